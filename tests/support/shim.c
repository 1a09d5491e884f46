/*
 * A preload shim for portscope's fault tests: it makes the real binary meet faults that a test
 * cannot cause on the host without breaking it. Each fault is switched on by one environment
 * variable; with none set the shim changes nothing.
 *
 *   PORTSCOPE_SHIM_NO_DIAG=17   a sock_diag request for this IP protocol (17 = UDP, 6 = TCP) is
 *                               answered as the kernel answers when it has no diag handler for
 *                               the protocol: an NLMSG_DONE carrying -ENOENT (the kernel does
 *                               exactly this for RAW and SCTP when their modules are missing).
 *   PORTSCOPE_SHIM_NO_DIAG_WHILE=PATH  with NO_DIAG: the fault holds only while PATH exists, so a
 *                               test can make a table fail and recover under a running --watch.
 *   PORTSCOPE_SHIM_EXIT_PID=N   the first open of /proc/N/stat first SIGKILLs pid N and waits
 *                               until it is gone: a holder that exits mid-scan, deterministically.
 *   PORTSCOPE_SHIM_CLOCK=S      CLOCK_REALTIME reads S seconds since the epoch (S may be
 *                               negative: a clock before 1970).
 *   PORTSCOPE_SHIM_EMFILE_PID=N opening /proc/N/fd fails with EMFILE, as when the process has
 *                               run out of file descriptors.
 *
 * Built by the tests with: cc -shared -fPIC -O2 -o libportscope_shim.so shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SOCK_DIAG_BY_FAMILY 20
#define NLMSG_DONE_TYPE 3
#define NLM_F_MULTI_FLAG 2
#define MAX_FD 4096

/* Per fd: the sequence number of a request we swallowed, plus one (0: none pending). */
static uint32_t pending_done[MAX_FD];

static long env_number(const char *name, int *set) {
    const char *value = getenv(name);
    *set = value != NULL && *value != '\0';
    return *set ? strtol(value, NULL, 10) : 0;
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
    static ssize_t (*real_send)(int, const void *, size_t, int);
    if (!real_send) real_send = dlsym(RTLD_NEXT, "send");
    int set;
    long proto = env_number("PORTSCOPE_SHIM_NO_DIAG", &set);
    const char *while_path = getenv("PORTSCOPE_SHIM_NO_DIAG_WHILE");
    if (set && while_path != NULL && *while_path != '\0' && access(while_path, F_OK) != 0) {
        set = 0;
    }
    const unsigned char *bytes = buf;
    /* struct nlmsghdr (16 bytes), then inet_diag_req_v2: family, protocol, ... */
    if (set && fd >= 0 && fd < MAX_FD && len >= 18) {
        uint16_t type;
        uint32_t seq;
        memcpy(&type, bytes + 4, sizeof type);
        memcpy(&seq, bytes + 8, sizeof seq);
        if (type == SOCK_DIAG_BY_FAMILY && bytes[17] == (unsigned char)proto) {
            pending_done[fd] = seq + 1;
            return (ssize_t)len;
        }
    }
    return real_send(fd, buf, len, flags);
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    static ssize_t (*real_recv)(int, void *, size_t, int);
    if (!real_recv) real_recv = dlsym(RTLD_NEXT, "recv");
    if (fd >= 0 && fd < MAX_FD && pending_done[fd] != 0 && len >= 20) {
        unsigned char done[20] = {0};
        uint32_t length = 20, seq = pending_done[fd] - 1;
        uint16_t type = NLMSG_DONE_TYPE, nlflags = NLM_F_MULTI_FLAG;
        int32_t error = -ENOENT;
        memcpy(done, &length, 4);
        memcpy(done + 4, &type, 2);
        memcpy(done + 6, &nlflags, 2);
        memcpy(done + 8, &seq, 4);
        memcpy(done + 16, &error, 4);
        memcpy(buf, done, sizeof done);
        pending_done[fd] = 0;
        return (ssize_t)sizeof done;
    }
    return real_recv(fd, buf, len, flags);
}

/* Kills the target the first time its stat file is opened, and waits until it is reaped. */
static void maybe_kill_before(const char *path) {
    static int done;
    int set;
    long pid = env_number("PORTSCOPE_SHIM_EXIT_PID", &set);
    if (!set || done || path == NULL) return;
    char wanted[64];
    snprintf(wanted, sizeof wanted, "/proc/%ld/stat", pid);
    if (strcmp(path, wanted) != 0) return;
    done = 1;
    kill((pid_t)pid, SIGKILL);
    for (int i = 0; i < 5000 && kill((pid_t)pid, 0) == 0; i++) usleep(1000);
}

/* True when this open must fail as a full fd table would. */
static int out_of_fds(const char *path) {
    int set;
    long pid = env_number("PORTSCOPE_SHIM_EMFILE_PID", &set);
    if (!set || path == NULL) return 0;
    char wanted[64];
    snprintf(wanted, sizeof wanted, "/proc/%ld/fd", pid);
    return strcmp(path, wanted) == 0;
}

#define OPEN_WRAPPER(name)                                                     \
    int name(const char *path, int flags, ...) {                               \
        static int (*real)(const char *, int, ...);                            \
        if (!real) real = dlsym(RTLD_NEXT, #name);                             \
        maybe_kill_before(path);                                               \
        if (out_of_fds(path)) {                                                \
            errno = EMFILE;                                                    \
            return -1;                                                         \
        }                                                                      \
        mode_t mode = 0;                                                       \
        if (flags & (O_CREAT | O_TMPFILE)) {                                   \
            va_list args;                                                      \
            va_start(args, flags);                                             \
            mode = va_arg(args, mode_t);                                       \
            va_end(args);                                                      \
        }                                                                      \
        return real(path, flags, mode);                                        \
    }

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

int clock_gettime(clockid_t clock, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
    int set;
    long seconds = env_number("PORTSCOPE_SHIM_CLOCK", &set);
    if (set && clock == CLOCK_REALTIME && ts != NULL) {
        ts->tv_sec = (time_t)seconds;
        ts->tv_nsec = 0;
        return 0;
    }
    return real(clock, ts);
}
