#!/usr/bin/env python3
"""portscope's network-namespace fixture: a private namespace that looks like a busy host.

    sudo bench/fixture.py --netns psfx --size small|medium|large [--hold SECONDS]
    sudo bench/fixture.py --netns psfx --size small --procs 5 --conns 0   # overrides

It creates the namespace (`ip netns add`), brings `lo` up and starts, inside it, processes
that hold known sockets the way real daemons do:

  nginx      master (root) + 2 workers (www-data) sharing 0.0.0.0:80 and :443
             (one socket, three processes)
  sshd       0.0.0.0:22 and [::]:22 (IPV6_V6ONLY)
  dnsmasq    udp and tcp 0.0.0.0:53, bound as root, then running as nobody
  postgres   127.0.0.1:5432 and [::1]:5432, as user postgres
  npm/node   npm binds [::]:3000 (dual stack), forks `node`, closes its own copy:
             only the child holds it
  gunicorn   a master and 2 workers; each worker binds 127.0.0.1:8080 with SO_REUSEPORT
             (two sockets, one process each)
  hostile    a process whose name, command line and working directory hold escape
             sequences, a bidi override, a C1 control and invalid UTF-8 (127.0.0.1:4444)
  svc-NNNN   --procs generic services, each with --listeners TCP listeners, --udp bound
             UDP sockets and --files extra non-socket fds (files, pipes, memfd, eventfd)
  redis      --conns established loopback connections, split over redis-server /
             redis-benchmark pairs (127.0.0.1:6379, 6380, ...) so that no process
             exceeds its fd limit

Names are set with prctl(PR_SET_NAME); command lines are rewritten in place, the way
nginx and sshd retitle themselves. Traffic never leaves the namespace's loopback.

When everything is bound it writes a JSON manifest of the ground truth (every process:
pid, ppid, name, command line, uid, and each socket it holds with protocol, address,
port, inode and owning uid), then a ready file, and prints one line starting with
`ready`. Check an inspector against it with:

    ip netns exec psfx target/release/portscope --once --json > /tmp/out.json
    bench/check_manifest.py /tmp/portscope-fixture-psfx.json /tmp/out.json

Sizes (each can be overridden with --procs --listeners --udp --conns --files):

  small    20 svc x (3 tcp + 1 udp),     200 connections, 10 extra fds each
  medium  300 svc x (5 tcp + 1 udp),  20,000 connections, 50 extra fds each
  large  1000 svc x (5 tcp + 1 udp), 100,000 connections, 50 extra fds each

It holds until --hold seconds pass (default 600, at most 3600), SIGTERM/SIGINT/SIGHUP,
or the ready file is removed; it also stops, with an error, if a holder dies. Then it
kills every process it started and deletes the namespace it created, its manifest, ready
file and working directories (/tmp/portscope-fixture-NETNS). Every holder also exits by
itself if the fixture is killed outright; only the namespace's name then stays behind
(`sudo ip netns del NETNS`).
"""

import argparse
import ctypes
import gc
import json
import os
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback

SIZES = {
    "small": {"procs": 20, "listeners": 3, "udp": 1, "conns": 200, "files": 10},
    "medium": {"procs": 300, "listeners": 5, "udp": 1, "conns": 20000, "files": 50},
    "large": {"procs": 1000, "listeners": 5, "udp": 1, "conns": 100000, "files": 50},
    # 108,000 listeners (the live view's worst case): more than one address's port space, so
    # they spread over 127.0.N.1. No connections: the listeners hold every ephemeral port of
    # 127.0.0.1, so a client there could not get one.

    "huge": {"procs": 200, "listeners": 540, "udp": 0, "conns": 0, "files": 10},
}
MAX_HOLD = 3600
SETUP_LIMIT = 600  # seconds; building the large fixture takes well under a minute
MAX_CONNS_PER_PAIR = 10000
FD_MARGIN = 256
REDIS_PORT = 6379
HOSTILE_PORT = 4444
SVC_PORT_LOW, SVC_PORT_SPAN, SVC_PORT_STEP = 10000, 55000, 7919  # 7919 is prime: a bijection
RESERVED_PORTS = {22, 53, 80, 443, 3000, 5432, 8080, HOSTILE_PORT}
TITLE_ROOM = 2048  # bytes of argv the holders may rewrite
MANIFEST_VERSION = 1

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000

HOSTILE_COMM = b"\x1b[2Jevil\xe2\x80\xaehs.x"
HOSTILE_CMDLINE = [
    b"\x1b]0;owned\x07evil-daemon",
    b"--banner=\x1b[5;41mPWNED\x1b[0m",
    b"\xe2\x80\xaeexe.txt",
    b"\xc2\x9b2J",
    b"bad-utf8-\xff\xfe",
    b"two\nlines\tand\\backslash",
]
HOSTILE_DIR = b"\x1b[7minverse\xe2\x80\xaeriD"

libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
libc.prctl.restype = ctypes.c_int
libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
libc.setns.restype = ctypes.c_int


class SetupError(Exception):
    """The fixture could not be built as asked."""


class Stop(Exception):
    """A signal asked the fixture to stop."""


def log(message):
    sys.stderr.write(f"fixture: {message}\n")
    sys.stderr.flush()


def prctl(option, arg2=0):
    if libc.prctl(option, arg2, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


# ---------------------------------------------------------------------------------------------
# Identity of a holder: name, command line, user, working directory


def set_comm(name):
    buffer = ctypes.create_string_buffer(name[:15])
    prctl(PR_SET_NAME, ctypes.addressof(buffer))


def argv_area():
    """(start, end) of this process's argv strings, from /proc/self/stat fields 48 and 49."""
    with open("/proc/self/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[45]), int(fields[46])


def set_title(args):
    """Rewrites the command line in place (as setproctitle does). The area is NUL-padded, so
    the kernel keeps reporting exactly [arg_start, arg_end); arguments that do not fit are
    dropped. Returns the command line as the kernel now reports it."""
    start, end = argv_area()
    room = end - start
    kept = list(args)
    while kept and len(b"\0".join(kept)) + 1 > room:
        kept.pop()
    if kept:
        blob = b"\0".join(kept) + b"\0"
        ctypes.memmove(start, blob + b"\0" * (room - len(blob)), room)
    return read_cmdline()


def read_cmdline():
    with open("/proc/self/cmdline", "rb") as f:
        parts = f.read().split(b"\0")
    while parts and parts[-1] == b"":
        parts.pop()
    return parts


def read_comm():
    with open("/proc/self/comm", "rb") as f:
        return f.read().rstrip(b"\n")


def lookup_user(*names):
    """The first of these users that exists, as (uid, gid); nobody, then root, otherwise."""
    for name in names + ("nobody",):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    return 0, 0


def dev_user():
    """A login user for the node dev server: the first uid from 1000 on, else nobody."""
    users = sorted((p.pw_uid, p.pw_gid) for p in pwd.getpwall() if 1000 <= p.pw_uid < 60000)
    return users[0] if users else lookup_user("nobody")


def drop_to(uid_gid):
    uid, gid = uid_gid
    if uid == os.geteuid():
        return
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # changing credentials clears it


def identity(name, title, cwd=b"/"):
    set_comm(name)
    os.chdir(cwd)
    return set_title(title)


# ---------------------------------------------------------------------------------------------
# Sockets and other fds


SOCKET_UIDS = {}  # inode -> the euid that created the socket (its owner, as the kernel reports)


def created(s):
    SOCKET_UIDS[os.fstat(s.fileno()).st_ino] = os.geteuid()
    return s


def tcp_listener(addr, port, v6only=None, reuseport=False, backlog=128):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    s.bind((addr, port))
    s.listen(backlog)
    return created(s)


def udp_socket(addr, port):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, port))
    return created(s)


def describe(s):
    """One socket as the manifest records it."""
    inode = os.fstat(s.fileno()).st_ino
    return {
        "addr": s.getsockname()[0],
        "port": s.getsockname()[1],
        "inode": inode,
        "uid": SOCKET_UIDS[inode],
    }


def open_extra_fds(count, keep):
    """`count` non-socket fds of several kinds, as a real process has."""
    script = os.path.abspath(__file__)
    for k in range(count):
        kind = k % 5
        if kind == 0:
            keep.append(os.open("/dev/null", os.O_RDONLY))
        elif kind == 1:
            r, w = os.pipe()
            os.close(w)
            keep.append(r)
        elif kind == 2 and hasattr(os, "memfd_create"):
            keep.append(os.memfd_create("psfx-cache"))
        elif kind == 3 and hasattr(os, "eventfd"):
            keep.append(os.eventfd(0))
        else:
            keep.append(os.open(script, os.O_RDONLY))


def raise_nofile(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if needed <= soft:
        return
    if needed > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError) as e:
            raise SetupError(f"needs {needed} fds but the hard limit is {hard}: {e}") from None
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def nofile_hard():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


# ---------------------------------------------------------------------------------------------
# Holder processes


class Holders:
    """Forks holders and talks to them. Every holder blocks reading the lifeline pipe, whose
    only write end the fixture keeps: when the fixture exits, however it exits, they all see
    end-of-file and exit too. They also die with their parent (PR_SET_PDEATHSIG) and after an
    alarm set past the longest possible hold."""

    def __init__(self, life_seconds):
        self.life_seconds = life_seconds
        self.lifeline_r, self.lifeline_w = os.pipe()
        self.pids = []

    # -- in the fixture --

    def spawn(self, body, *args):
        """Forks a holder running body(report, *args); returns (pid, report read fd)."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            self._run_child(body, args, keep={w})
        os.close(w)
        self.pids.append(pid)
        return pid, r

    def _run_child(self, body, args, keep):
        code = 0
        try:
            self.enter_child(keep)
            body(Report(next(iter(keep))), *args)
        except BaseException:  # noqa: BLE001 -- a holder reports and dies, never returns
            traceback.print_exc()
            code = 1
        os._exit(code)

    def enter_child(self, keep):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        close_fds_except(keep | {0, 1, 2, self.lifeline_r})
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.alarm(self.life_seconds)
        gc.disable()

    # -- in a holder --

    def block(self):
        """Holds everything until the fixture goes away."""
        while os.read(self.lifeline_r, 1):
            pass
        os._exit(0)

    def fork_sub(self, body, *args):
        """From inside a holder: forks a sub-process (a worker) that inherits everything open,
        runs body(*args) -> report dict, reports it and blocks. Returns its report."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(r)
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                signal.alarm(self.life_seconds)  # a pending alarm is not inherited by fork
                Report(w).send(body(*args))
                self.block()
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
                code = 1
            os._exit(code)
        os.close(w)
        return read_report(r, time.monotonic() + 60, f"sub-process {pid}")


def close_fds_except(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the fd of the listdir itself


class Report:
    def __init__(self, fd):
        self.fd = fd

    def send(self, obj):
        data = json.dumps(obj).encode() + b"\n"
        while data:
            data = data[os.write(self.fd, data):]


def read_report(fd, deadline, who):
    """Reads one JSON line from a holder, within the deadline."""
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SetupError(f"{who} did not report within the set-up limit")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SetupError(f"{who} exited during set-up (its error is above)")
        buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


def me(role, cmdline, tcp=(), udp=(), **extra):
    """This process as the manifest records it."""
    record = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "role": role,
        "comm_hex": read_comm().hex(),
        "cmdline_hex": [arg.hex() for arg in cmdline],
        "uid": os.geteuid(),
        "tcp": [describe(s) for s in tcp],
        "udp": [describe(s) for s in udp],
    }
    record.update(extra)
    return record


# ---------------------------------------------------------------------------------------------
# The host the fixture imitates. Each body runs in a forked holder, reports, and blocks.


def nginx(holders, report):
    cmd = identity(b"nginx",
                   [b"nginx: master process /usr/sbin/nginx -g daemon on; master_process on;"])
    socks = [tcp_listener("0.0.0.0", 80, backlog=511), tcp_listener("0.0.0.0", 443, backlog=511)]

    def worker():
        worker_cmd = set_title([b"nginx: worker process"])
        drop_to(lookup_user("www-data"))
        return me("nginx worker", worker_cmd, tcp=socks)

    workers = [holders.fork_sub(worker) for _ in range(2)]
    report.send({"processes": [me("nginx master", cmd, tcp=socks)] + workers})
    holders.block()


def sshd(holders, report):
    cmd = identity(b"sshd", [b"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"])
    socks = [tcp_listener("0.0.0.0", 22), tcp_listener("::", 22, v6only=True)]
    report.send({"processes": [me("sshd", cmd, tcp=socks)]})
    holders.block()


def dnsmasq(holders, report):
    cmd = identity(b"dnsmasq", [b"/usr/sbin/dnsmasq", b"--keep-in-foreground", b"--user=nobody"])
    udp = [udp_socket("0.0.0.0", 53)]
    tcp = [tcp_listener("0.0.0.0", 53, backlog=5)]
    drop_to(lookup_user("nobody"))  # binds as root, serves as nobody, like the real one
    report.send({"processes": [me("dnsmasq", cmd, tcp=tcp, udp=udp)]})
    holders.block()


def postgres(holders, report):
    cmd = identity(b"postgres", [b"/usr/lib/postgresql/15/bin/postgres", b"-D",
                                 b"/var/lib/postgresql/15/main", b"-c",
                                 b"config_file=/etc/postgresql/15/main/postgresql.conf"])
    drop_to(lookup_user("postgres"))
    socks = [tcp_listener("127.0.0.1", 5432), tcp_listener("::1", 5432)]
    report.send({"processes": [me("postgres", cmd, tcp=socks)]})
    holders.block()


def node_dev(holders, report, app_dir):
    """npm binds [::]:3000, forks node with it, and closes its own copy."""
    cmd = identity(b"npm", [b"npm", b"run", b"dev"], cwd=app_dir)
    drop_to(dev_user())
    listener = tcp_listener("::", 3000, v6only=False, backlog=511)

    def node():
        node_cmd = identity(b"node", [b"node", b"server.js", b"--port", b"3000"], cwd=app_dir)
        return me("node dev server (socket handed over by npm)", node_cmd, tcp=[listener])

    child = holders.fork_sub(node)
    listener.close()
    report.send({"processes": [me("npm (bound 3000, closed its copy)", cmd), child]})
    holders.block()


def gunicorn(holders, report):
    """A master that holds nothing and two workers with one SO_REUSEPORT socket each."""
    cmd = identity(b"gunicorn", [b"gunicorn: master [app:app]"])
    drop_to(lookup_user("www-data"))

    def worker():
        worker_cmd = set_title([b"gunicorn: worker [app:app]"])
        sock = tcp_listener("127.0.0.1", 8080, reuseport=True, backlog=2048)
        worker.keep = sock
        return me("gunicorn worker (SO_REUSEPORT)", worker_cmd, tcp=[sock])

    workers = [holders.fork_sub(worker) for _ in range(2)]
    report.send({"processes": [me("gunicorn master", cmd)] + workers})
    holders.block()


def hostile(holders, report, hostile_dir):
    """Escape sequences, a bidi override, a C1 CSI and invalid UTF-8 in name, command line and
    working directory: any local user can do this."""
    cmd = identity(HOSTILE_COMM, HOSTILE_CMDLINE, cwd=hostile_dir)
    drop_to(lookup_user("nobody"))
    socks = [tcp_listener("127.0.0.1", HOSTILE_PORT)]
    report.send({"processes": [me("hostile strings", cmd, tcp=socks)]})
    holders.block()


def svc(holders, report, index, tcp_plan, udp_plan, files):
    cmd = identity(f"svc-{index:04d}".encode(),
                   [b"/usr/local/bin/svc", b"--instance", f"{index:04d}".encode()])
    tcp = [tcp_listener(addr, port, v6only=False if ":" in addr else None)
           for addr, port in tcp_plan]
    udp = [udp_socket(addr, port) for addr, port in udp_plan]
    extra = []
    open_extra_fds(files, extra)
    report.send({"processes": [me("service", cmd, tcp=tcp, udp=udp, files=files)]})
    holders.block()


def redis_server(holders, report, port, count):
    cmd = identity(b"redis-server", [f"/usr/bin/redis-server 127.0.0.1:{port}".encode()])
    raise_nofile(count + FD_MARGIN)
    listener = tcp_listener("127.0.0.1", port, backlog=4096)
    report.send({"processes": [me("connection server", cmd, tcp=[listener])]})
    accepted = []
    while len(accepted) < count:
        accepted.append(listener.accept()[0])
    report.send({"accepted": len(accepted)})
    holders.block()


def redis_benchmark(holders, report, port, count):
    cmd = identity(b"redis-benchmark",
                   [b"redis-benchmark", b"-p", str(port).encode(), b"-c", str(count).encode(),
                    b"-k", b"1"])
    raise_nofile(count + FD_MARGIN)
    conns = []
    for _ in range(count):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(("127.0.0.1", port))
        conns.append(c)
    report.send({"processes": [me("connection client", cmd, established=len(conns))]})
    holders.block()


# ---------------------------------------------------------------------------------------------
# Plans


def svc_port_plan(count):
    """`count` distinct ports, deterministic, spread over the registered and dynamic ranges
    (a multiplicative walk over 10000..64999), avoiding the named services' ports."""
    ports = []
    for i in range(count):
        port = SVC_PORT_LOW + (i * SVC_PORT_STEP) % SVC_PORT_SPAN
        ports.append(port if port not in RESERVED_PORTS else 65000 + i % 500)
    return ports


SVC_TCP_ADDRS = ["127.0.0.1", "0.0.0.0", "127.0.0.1", "::1", "::"]
SVC_UDP_ADDRS = ["127.0.0.1", "0.0.0.0"]


def svc_addr(n):
    """The address of listener number n: the usual mix while the ports last; past one port
    space, one loopback address per lap (127.0.1.1, 127.0.2.1, …), so nothing conflicts."""
    lap = n // SVC_PORT_SPAN
    if lap == 0:
        return ("127.0.0.1", "::1")[n % 2]  # no wildcard: it would take every lap's port
    return f"127.0.{lap}.1"



def svc_plans(procs, listeners, udp):
    per = listeners + udp
    ports = svc_port_plan(procs * per)
    plans = []
    wide = procs * per > SVC_PORT_SPAN
    for i in range(procs):
        mine = ports[i * per:(i + 1) * per]
        tcp = [(svc_addr(i * per + j) if wide else
                SVC_TCP_ADDRS[(i * listeners + j) % len(SVC_TCP_ADDRS)], p)
               for j, p in enumerate(mine[:listeners])]

        udps = [(SVC_UDP_ADDRS[(i + j) % len(SVC_UDP_ADDRS)], p)
                for j, p in enumerate(mine[listeners:])]
        plans.append((tcp, udps))
    return plans


def connection_pairs(conns):
    """Split the connections over pairs so no process holds more fds than it may."""
    if conns <= 0:
        return []
    per_pair = max(1, min(MAX_CONNS_PER_PAIR, nofile_hard() - FD_MARGIN))
    pairs = -(-conns // per_pair)
    return [conns // pairs + (1 if k < conns % pairs else 0) for k in range(pairs)]


# ---------------------------------------------------------------------------------------------
# The fixture


class Fixture:
    def __init__(self, args):
        self.args = args
        self.created_netns = False
        self.workdir = None  # bytes, once made
        self.holders = None
        self.files_written = []

    def build(self):
        args = self.args
        # `ip netns add` refuses a name that exists: from here on the name is ours alone.
        subprocess.run(["ip", "netns", "add", args.netns], check=True)
        self.created_netns = True
        self.workdir = make_workdir(args.netns)
        app_dir = os.path.join(self.workdir, b"app")
        hostile_dir = os.path.join(self.workdir, HOSTILE_DIR)
        os.mkdir(app_dir)
        os.mkdir(hostile_dir)
        enter_netns(args.netns)
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        self.holders = Holders(int(SETUP_LIMIT + args.hold + 60))
        gc.collect()
        gc.freeze()  # fewer copy-on-write pages in a thousand forked holders
        deadline = time.monotonic() + SETUP_LIMIT
        processes = []
        h = self.holders
        named = [(nginx,), (sshd,), (dnsmasq,), (postgres,), (node_dev, app_dir), (gunicorn,),
                 (hostile, hostile_dir)]
        for body, *rest in named:
            processes += self.collect(h.spawn(lambda rep, *a, b=body: b(h, rep, *a), *rest),
                                      deadline, body.__name__)
        for i, (tcp, udp) in enumerate(svc_plans(args.procs, args.listeners, args.udp)):
            processes += self.collect(
                h.spawn(lambda rep: svc(h, rep, i, tcp, udp, args.files)), deadline, f"svc-{i:04d}")
        processes += self.connect(connection_pairs(args.conns), deadline)
        return processes

    def collect(self, spawned, deadline, who, key="processes"):
        pid, fd = spawned
        try:
            return read_report(fd, deadline, f"{who} (pid {pid})")[key]
        finally:
            os.close(fd)

    def connect(self, pairs, deadline):
        """All servers listen first; then the clients connect, all pairs at once."""
        h = self.holders
        servers, clients = [], []
        for k, count in enumerate(pairs):
            pid, fd = h.spawn(lambda rep, port=REDIS_PORT + k, n=count:
                              redis_server(h, rep, port, n))
            (record,) = read_report(fd, deadline, f"redis-server (pid {pid})")["processes"]
            servers.append((record, fd))
        spawned = [h.spawn(lambda rep, port=REDIS_PORT + k, n=count:
                           redis_benchmark(h, rep, port, n))
                   for k, count in enumerate(pairs)]
        for pid, fd in spawned:
            clients += self.collect((pid, fd), deadline, "redis-benchmark")
        for record, fd in servers:
            record["established"] = self.collect((record["pid"], fd), deadline, "redis-server",
                                                 key="accepted")
        return [record for record, _ in servers] + clients

    def write_manifest(self, processes, started):
        args = self.args
        manifest = {
            "version": MANIFEST_VERSION,
            "netns": args.netns,
            "size": args.size,
            "config": {k: getattr(args, k) for k in SIZES["small"]},
            "fixture_pid": os.getpid(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "hold_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started + args.hold)),
            "totals": totals(processes),
            "processes": [readable(p) for p in processes],
        }
        write_atomically(args.manifest, json.dumps(manifest, indent=1) + "\n")
        self.files_written.append(args.manifest)
        write_atomically(args.ready_file, json.dumps(
            {"pid": os.getpid(), "netns": args.netns, "manifest": args.manifest}) + "\n")
        self.files_written.append(args.ready_file)
        return manifest["totals"]

    def hold(self, processes):
        """Until the hold time passes, the ready file goes, or a holder dies (the manifest would
        no longer be true). Signals raise Stop."""
        deadline = time.monotonic() + self.args.hold
        next_look = 0.0
        while time.monotonic() < deadline:
            if not os.path.exists(self.args.ready_file):
                return "the ready file was removed"
            if time.monotonic() >= next_look:
                for p in processes:
                    if not alive(p["pid"]):
                        raise SetupError(f"holder pid {p['pid']} ({p['role']}) is gone; "
                                         "the manifest no longer holds")
                next_look = time.monotonic() + 2.0
            time.sleep(0.25)
        return f"--hold {self.args.hold:g}s passed"

    def teardown(self):
        if self.holders is not None:
            os.close(self.holders.lifeline_w)
            reap_all_children()
        for path in self.files_written:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if self.created_netns:
            subprocess.run(["ip", "netns", "del", self.args.netns], check=False)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def make_workdir(netns):
    """The holders' working directories live under a fixed path, so every run (and every
    screenshot) shows the same ones. A leftover of a killed run is removed first."""
    path = f"/tmp/portscope-fixture-{netns}".encode()
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:
            raise SetupError(f"{path.decode()} exists and is not a directory this fixture left; "
                             "remove it")
        shutil.rmtree(path)
    os.mkdir(path)
    os.chmod(path, 0o755)
    return path


def enter_netns(name):
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise SetupError(f"cannot enter netns {name}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def reap_all_children():
    """Kills and reaps every descendant. The fixture is a child subreaper, so orphaned workers
    become its children; only unreaped children are signalled, so no pid can have been reused."""
    grace = time.monotonic() + 2.0  # holders see the lifeline close and exit on their own
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if time.monotonic() < grace:
            time.sleep(0.05)
            continue
        for child in children_of(os.getpid()):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def children_of(pid):
    children = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children.update(int(c) for c in f.read().split())
        except OSError:
            pass
    return children


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:][:1] not in (b"Z", b"X")


def totals(processes):
    inodes = {"tcp": set(), "udp": set()}
    for p in processes:
        for proto in inodes:
            inodes[proto].update(s["inode"] for s in p[proto])
    established = sum(p.get("established", 0) for p in processes)
    return {
        "processes": len(processes),
        "tcp_listeners": len(inodes["tcp"]),
        "udp_sockets": len(inodes["udp"]),
        "connections": established // 2,
        "established_sockets": established,
    }


def readable(process):
    """Adds `name` and `cmdline` as text beside the exact bytes (hex) when they are plain."""
    comm = bytes.fromhex(process["comm_hex"])
    cmdline = [bytes.fromhex(a) for a in process["cmdline_hex"]]
    out = {"pid": process["pid"], "ppid": process["ppid"], "name": printable(comm)}
    out["cmdline"] = [printable(a) for a in cmdline]
    out.update(process)
    if all(is_plain(b) for b in [comm] + cmdline):
        del out["comm_hex"], out["cmdline_hex"]
    return out


def is_plain(raw):
    return all(0x20 <= b < 0x7F and b != 0x5C for b in raw)


def printable(raw):
    return raw.decode("ascii", "backslashreplace") if is_plain(raw) else repr(raw)[2:-1]


def write_atomically(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".fixture-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="fixture.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--netns", default="psfx", help="namespace to create (default psfx); "
                    "it must not exist yet")
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    for name, what in [("procs", "svc-NNNN processes"), ("listeners", "TCP listeners per svc"),
                       ("udp", "bound UDP sockets per svc"), ("conns", "established connections"),
                       ("files", "extra non-socket fds per svc")]:
        ap.add_argument(f"--{name}", type=int, metavar="N", help=f"{what} (overrides --size)")
    ap.add_argument("--hold", type=float, default=600, metavar="SECONDS",
                    help=f"stop by itself after this long (default 600, at most {MAX_HOLD})")
    ap.add_argument("--manifest", metavar="FILE",
                    help="where to write the manifest (default /tmp/portscope-fixture-NETNS.json)")
    ap.add_argument("--ready-file", metavar="FILE",
                    help="written when ready; remove it to stop the fixture "
                         "(default /tmp/portscope-fixture-NETNS.ready)")
    ap.add_argument("--title-room", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", args.netns):
        ap.error("--netns: letters, digits, '_', '.', '-' only")
    for key, value in SIZES[args.size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    limits = {"procs": 5000, "listeners": 1000, "udp": 50, "conns": 500000, "files": 5000}
    for key, high in limits.items():
        if not 0 <= getattr(args, key) <= high:
            ap.error(f"--{key} must be between 0 and {high}")
    laps = 200  # 127.0.1.1 … 127.0.199.1
    if args.procs * (args.listeners + args.udp) > SVC_PORT_SPAN * laps:
        ap.error(f"--procs x (--listeners + --udp) must be at most {SVC_PORT_SPAN * laps}")
    if args.udp and args.procs * (args.listeners + args.udp) > SVC_PORT_SPAN:
        ap.error("--udp needs --procs x (--listeners + --udp) within one port space")

    if not 0 < args.hold <= MAX_HOLD:
        ap.error(f"--hold must be more than 0 and at most {MAX_HOLD} seconds")
    args.manifest = os.path.abspath(args.manifest or f"/tmp/portscope-fixture-{args.netns}.json")
    args.ready_file = os.path.abspath(
        args.ready_file or f"/tmp/portscope-fixture-{args.netns}.ready")
    return args


def make_title_room(argv):
    """Holders rewrite their command line in the argv area they inherit; re-exec once with a
    padding argument so that area is large enough, then show the original command again."""
    start, end = argv_area()
    if end - start >= TITLE_ROOM or any(a.startswith("--title-room") for a in argv):
        return
    script = os.path.abspath(__file__)
    os.execv(sys.executable, [sys.executable, script] + argv + ["--title-room=" + "-" * TITLE_ROOM])


def stop_on_signal(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("fixture: needs root to create a network namespace; "
                 f"run: sudo {sys.argv[0]} {' '.join(argv)}")
    if os.path.exists(f"/run/netns/{args.netns}"):
        sys.exit(f"fixture: netns {args.netns} already exists; pick another --netns, or if it is "
                 f"a leftover: sudo ip netns del {args.netns}")
    if shutil.which("ip") is None:
        sys.exit("fixture: missing ip (Debian package iproute2)")
    make_title_room(argv)
    shown = [a for a in argv if not a.startswith("--title-room")]
    original = [sys.argv[0].encode()] + [a.encode() for a in shown]
    set_title([os.path.basename(sys.executable).encode()] + original)
    set_comm(b"fixture")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop_on_signal)
    fixture = Fixture(args)
    code = 0
    try:
        started = time.time()
        log(f"netns {args.netns}: {args.procs} services x ({args.listeners} tcp + {args.udp} udp), "
            f"{args.conns} connections, {args.files} extra fds each")
        processes = fixture.build()
        total = fixture.write_manifest(processes, started)
        print(f"ready netns={args.netns} manifest={args.manifest} ready_file={args.ready_file} "
              f"processes={total['processes']} tcp_listeners={total['tcp_listeners']} "
              f"udp_sockets={total['udp_sockets']} connections={total['connections']} "
              f"setup={time.time() - started:.1f}s hold={args.hold:g}s", flush=True)
        reason = fixture.hold(processes)
    except Stop as e:
        reason = f"{e}"
    except (SetupError, OSError, subprocess.CalledProcessError) as e:
        log(f"error: {e}")
        reason, code = "error", 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        fixture.teardown()
    log(f"stopped ({reason})" + (f"; netns {args.netns} deleted" if fixture.created_netns else ""))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
