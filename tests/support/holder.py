#!/usr/bin/env python3
"""A socket holder for portscope's integration tests (python3, stdlib only).

Usage: holder.py [OPTIONS] ITEM...

Items (each binds on port 0 unless --port gave it a port):
  tcp4, tcp6, udp4, udp6   one listening TCP socket / one bound UDP socket
  udp-connected            a UDP socket connect()ed to a second, bound UDP socket of this
                           holder; the target is reported too (role "udp-target", a listener),
                           the connected one is reported with "listening": false and its peer
  shared-child             a TCP listener shared with a forked child (both pids hold it)
  reuseport-pair           two forked children, each binding the same TCP port with
                           SO_REUSEPORT (two sockets, one pid each; the holder holds neither)
  neighbours               two TCP listeners on ports X and 10*X+1 (X in 1024..6553), for
                           "3000 must not match 30001"
  many-udp4=N              N bound UDP sockets (for output larger than a pipe buffer)
  prefork-as=UID           a TCP listener shared with two forked workers that switch to UID
                           (setgid/setuid), like nginx: a root master and unprivileged workers
  conn-only                a TCP connection whose listener is closed once it accepted: the
                           server end keeps the port as its local port, ESTABLISHED, and no
                           listener is left (reported with "listening": false)

Options:
  --addr ADDR        bind the following items to ADDR (default 127.0.0.1 / ::1); sticky
  --port N           bind the next item (only) on port N
  --name NAME        set the process name (comm) with prctl(PR_SET_NAME)
  --name-hex HEX     the same, with the name given as hex bytes (may be hostile)
  --argv-hex HEX     re-exec once so the command line carries these raw bytes as an argument
  --argv-pad N       re-exec once so the command line carries an extra argument of N bytes
  --non-dumpable     prctl(PR_SET_DUMPABLE, 0) before binding (its fds need root to read)
  --junk ARG         ignored (carries the bytes of --argv-hex after the re-exec)

Once everything is bound it prints ONE JSON line on stdout:
  {"pid": P, "children": [...], "comm_hex": "...",
   "sockets": [{"kind": "tcp4", "role": "tcp4", "addr": "127.0.0.1", "port": N,
                "pids": [...], "listening": true, "peer": null}, ...]}
then blocks until stdin is closed, kills and reaps its children, and exits.
"""

import ctypes
import json
import os
import random
import signal
import socket
import sys

PR_SET_NAME = 15
SO_REUSEPORT = getattr(socket, "SO_REUSEPORT", 15)

# Every socket this process has open, so a forked child can close the ones it must not hold.
OPEN_SOCKETS = []
CHILDREN = []


def fail(message):
    sys.stderr.write("holder.py: %s\n" % message)
    sys.stderr.flush()
    kill_children()
    sys.exit(2)


def kill_children():
    for pid in CHILDREN:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in CHILDREN:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def set_name(raw):
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(raw[:15])
    if libc.prctl(PR_SET_NAME, buf, 0, 0, 0) != 0:
        fail("prctl(PR_SET_NAME): errno %d" % ctypes.get_errno())


def read_comm():
    with open("/proc/self/comm", "rb") as f:
        return f.read().rstrip(b"\n")


def family_of(kind):
    return socket.AF_INET6 if kind.endswith("6") else socket.AF_INET


def default_addr(kind, addr):
    if addr is not None:
        return addr
    return "::1" if kind.endswith("6") else "127.0.0.1"


def new_socket(kind, addr, port, reuseport=False):
    """Binds (and for TCP, listens on) one socket of `kind` (tcp4/tcp6/udp4/udp6)."""
    stype = socket.SOCK_STREAM if kind.startswith("tcp") else socket.SOCK_DGRAM
    sock = socket.socket(family_of(kind), stype)
    if kind.endswith("6"):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, SO_REUSEPORT, 1)
    sock.bind((default_addr(kind, addr), port))
    if stype == socket.SOCK_STREAM:
        sock.listen(16)
    OPEN_SOCKETS.append(sock)
    return sock


def entry(kind, role, sock, pids, listening=True, peer=None):
    host, port = sock.getsockname()[:2]
    return {
        "kind": kind,
        "role": role,
        "addr": host,
        "port": port,
        "pids": sorted(pids),
        "listening": listening,
        "peer": peer,
    }


def child_wait_forever():
    """A child's life after setup: block until stdin (shared with the test) is closed."""
    try:
        while os.read(0, 4096):
            pass
    finally:
        os._exit(0)


def fork_child(setup):
    """Forks a child that closes every socket but the ones `setup` returns, then reports
    "ok <text>" on a pipe and blocks. Returns (pid, text)."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
            keep, text = setup()
            for sock in OPEN_SOCKETS:
                if all(sock is not k for k in keep):
                    sock.close()
            os.write(write_end, ("ok %s\n" % text).encode())
            os.close(write_end)
        except BaseException as error:  # report anything to the parent, never run its code
            try:
                os.write(write_end, ("err %r\n" % (error,)).encode())
            finally:
                os._exit(3)
        child_wait_forever()
    CHILDREN.append(pid)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        line = pipe.readline().decode().strip()
    if not line.startswith("ok"):
        fail("child %d failed: %s" % (pid, line or "exited without a word"))
    return pid, line[3:]


def bind_neighbours(addr):
    """Two TCP listeners on X and 10*X+1 (e.g. 3000 and 30001)."""
    rng = random.Random()
    for _ in range(500):
        low = rng.randrange(1024, 6554)
        try:
            a = new_socket("tcp4", addr, low)
        except OSError:
            continue
        try:
            b = new_socket("tcp4", addr, low * 10 + 1)
        except OSError:
            OPEN_SOCKETS.remove(a)
            a.close()
            continue
        return a, b
    fail("no free pair of ports X, 10X+1")
    return None


def parse(argv):
    options = {"name": None, "argv_hex": None, "argv_pad": None, "non_dumpable": False,
               "items": []}
    addr = None
    port = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--non-dumpable":
            options["non_dumpable"] = True
            i += 1
            continue
        if arg in ("--addr", "--port", "--name", "--name-hex", "--argv-hex", "--argv-pad",
                   "--junk"):
            if i + 1 >= len(argv):
                fail("%s needs a value" % arg)
            value = argv[i + 1]
            i += 2
            if arg == "--addr":
                addr = value
            elif arg == "--port":
                port = int(value)
            elif arg == "--name":
                options["name"] = os.fsencode(value)
            elif arg == "--name-hex":
                options["name"] = bytes.fromhex(value)
            elif arg == "--argv-hex":
                options["argv_hex"] = value
            elif arg == "--argv-pad":
                options["argv_pad"] = value
            continue
        options["items"].append((arg, addr, port or 0))
        port = None
        i += 1
    if port is not None:
        fail("--port must come before an item")
    return options


def reexec_with_argv(argv, hex_bytes=None, pad=None):
    rest = []
    i = 0
    while i < len(argv):
        if argv[i] in ("--argv-hex", "--argv-pad"):
            i += 2
            continue
        rest.append(argv[i])
        i += 1
    script = os.path.abspath(__file__)
    if hex_bytes is not None:
        junk = ["--junk", bytes.fromhex(hex_bytes)]
    else:
        # One argument may be at most 128 KiB (MAX_ARG_STRLEN): pad with many.
        size, piece = int(pad), 65536
        junk = []
        while size > 0:
            junk += ["--junk", b"x" * min(size, piece)]
            size -= piece
    os.execv(sys.executable, [sys.executable, script] + junk + rest)


def main(argv):
    options = parse(argv)
    if options["argv_hex"] is not None:
        reexec_with_argv(argv, hex_bytes=options["argv_hex"])
    if options["argv_pad"] is not None:
        reexec_with_argv(argv, pad=options["argv_pad"])
    if options["name"] is not None:
        set_name(options["name"])
    if options["non_dumpable"]:
        PR_SET_DUMPABLE = 4
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            fail("prctl(PR_SET_DUMPABLE): errno %d" % ctypes.get_errno())
    me = os.getpid()
    sockets = []
    for item, addr, port in options["items"]:
        if item in ("tcp4", "tcp6", "udp4", "udp6"):
            sock = new_socket(item, addr, port)
            sockets.append(entry(item, item, sock, [me]))
        elif item == "udp-connected":
            target = new_socket("udp4", addr, port)
            sockets.append(entry("udp4", "udp-target", target, [me]))
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            OPEN_SOCKETS.append(client)
            client.connect(target.getsockname())
            peer = list(target.getsockname()[:2])
            sockets.append(entry("udp4", "udp-connected", client, [me], False, peer))
        elif item == "shared-child":
            sock = new_socket("tcp4", addr, port)
            child, _ = fork_child(lambda s=sock: ([s], ""))
            sockets.append(entry("tcp4", "shared-child", sock, [me, child]))
        elif item == "reuseport-pair":
            first_port = port
            for _ in range(2):

                def setup(p=first_port):
                    s = new_socket("tcp4", addr, p, reuseport=True)
                    return [s], str(s.getsockname()[1])

                child, text = fork_child(setup)
                first_port = int(text)
                host = default_addr("tcp4", addr)
                sockets.append({
                    "kind": "tcp4",
                    "role": "reuseport-pair",
                    "addr": host,
                    "port": first_port,
                    "pids": [child],
                    "listening": True,
                    "peer": None,
                })
        elif item == "neighbours":
            low, high = bind_neighbours(addr)
            sockets.append(entry("tcp4", "neighbour-low", low, [me]))
            sockets.append(entry("tcp4", "neighbour-high", high, [me]))
        elif item.startswith("prefork-as="):
            uid = int(item.split("=", 1)[1])
            sock = new_socket("tcp4", addr, port)
            workers = []
            for _ in range(2):

                def drop(s=sock, u=uid):
                    os.setgroups([])
                    os.setgid(u)
                    os.setuid(u)
                    # As nginx does after setuid: stay dumpable, so the worker's own user
                    # can inspect it.
                    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)
                    return [s], ""

                child, _ = fork_child(drop)
                workers.append(child)
            sockets.append(entry("tcp4", "prefork", sock, [me] + workers))
        elif item == "conn-only":
            server = new_socket("tcp4", addr, port)
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            OPEN_SOCKETS.append(client)
            client.connect(server.getsockname())
            accepted, _ = server.accept()
            OPEN_SOCKETS.append(accepted)
            local = accepted.getsockname()
            peer = list(accepted.getpeername()[:2])
            OPEN_SOCKETS.remove(server)
            server.close()
            sockets.append({
                "kind": "tcp4",
                "role": "conn-only",
                "addr": local[0],
                "port": local[1],
                "pids": [me],
                "listening": False,
                "peer": peer,
            })
        elif item.startswith("many-udp4="):
            for _ in range(int(item.split("=", 1)[1])):
                sock = new_socket("udp4", addr, 0)
                sockets.append(entry("udp4", "many", sock, [me]))
        else:
            fail("unknown item %r" % item)
    ready = {
        "pid": me,
        "children": list(CHILDREN),
        "comm_hex": read_comm().hex(),
        "sockets": sockets,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        while os.read(0, 4096):
            pass
    finally:
        kill_children()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except OSError as error:
        fail(str(error))
