#!/usr/bin/env python3
"""Processes for portscope's `--kill` integration tests (tests/kill.rs); python3, stdlib only.

Every mode prints ONE JSON line on stdout when it is ready and then blocks until stdin is
closed (the orchestrator instead answers one JSON line per command line read from stdin).
Process names are set with prctl(PR_SET_NAME) so the tests can match portscope's output.

Modes:
  listen [--name N] [--port P] [--ignore-term] [--block]
      One TCP listener on 127.0.0.1:P (0 = any). --ignore-term sets SIGTERM to SIG_IGN;
      --block blocks TERM/INT/HUP/QUIT so a signal sent to it stays pending (visible in
      /proc/PID/status), which proves whether anything was sent.
      Ready: {"pid", "port"}

  parent-runs [--name N] [--pass-fd] -- BIN ARG...
      Binds a listener (TERM/INT/HUP/QUIT blocked), then runs BIN ARG... as its child, with
      "{port}" in the arguments replaced by the port and stdin from /dev/null. --pass-fd lets
      the child inherit the listening socket. Reports after the child has exited:
      {"pid", "port", "child_pid", "code", "stdout", "stderr", "pending"}

  ns-init-holder [--name N] -- BIN ARG...
      Meant to be pid 1 of a fresh PID namespace. Binds a listener (signals blocked as
      above), then forks a child that closes its copy of the listener and runs BIN ARG... as
      ITS child (so portscope's parent is not a holder; the only holder is pid 1). Reports:
      {"pid", "port", "runner_pid", "child_pid", "code", "stdout", "stderr", "pending"}

  ns-orchestrator
      Meant to be pid 1 of a fresh PID namespace. Ready: {"pid"}. Commands (one per line):
        start NAME PORT        fork a listener on 127.0.0.1:PORT (SO_REUSEADDR)
                               -> {"pid", "port"}
        reuse PID NAME PORT HOLD
                               SIGKILL and reap PID, write PID-1 to ns_last_pid, fork a new
                               process (signals blocked) that holds PORT if HOLD is 1
                               -> {"pid", "same": pid == PID, "held"} or {"error", "where"}
        status PID             -> {"alive", "pending"}
        kill PID               SIGKILL and reap -> {"ok": true}
      On EOF it kills its children and exits (which ends the namespace).
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys

PR_SET_NAME = 15
STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT]


def fail(message):
    sys.stderr.write("kill_helpers.py: %s\n" % message)
    sys.stderr.flush()
    sys.exit(2)


def set_name(name):
    if not name:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(os.fsencode(name)[:15])
    if libc.prctl(PR_SET_NAME, buf, 0, 0, 0) != 0:
        fail("prctl(PR_SET_NAME): errno %d" % ctypes.get_errno())


def block_stop_signals():
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def unblock_all_signals():
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def pending(pid="self"):
    """The pending-signal masks of a process (thread and shared), as one integer."""
    mask = 0
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(("SigPnd:", "ShdPnd:")):
                mask |= int(line.split()[1], 16)
    return mask


def listener(port, reuseaddr=False):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuseaddr:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    return sock


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def wait_for_eof():
    while os.read(0, 4096):
        pass


def parse(argv, flags, valued):
    """Options before an optional `--`; returns (options, rest)."""
    options = {}
    rest = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest = argv[i + 1:]
            break
        if arg in flags:
            options[arg] = True
            i += 1
        elif arg in valued and i + 1 < len(argv):
            options[arg] = argv[i + 1]
            i += 2
        else:
            fail("unexpected argument %r" % arg)
    return options, rest


def run_child(argv, port, pass_fds=()):
    """Runs argv (with {port} substituted) with every signal unblocked; returns its report."""
    argv = [a.replace("{port}", str(port)) for a in argv]
    child = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=pass_fds,
        preexec_fn=unblock_all_signals,
    )
    out, err = child.communicate()
    return {
        "child_pid": child.pid,
        "code": child.returncode,
        "stdout": out.decode("utf-8", "replace"),
        "stderr": err.decode("utf-8", "replace"),
    }


def mode_listen(argv):
    options, _ = parse(argv, ("--ignore-term", "--block"), ("--name", "--port"))
    set_name(options.get("--name"))
    if options.get("--ignore-term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if options.get("--block"):
        block_stop_signals()
    sock = listener(int(options.get("--port", "0")))
    say({"pid": os.getpid(), "port": sock.getsockname()[1]})
    wait_for_eof()


def mode_parent_runs(argv):
    options, command = parse(argv, ("--pass-fd",), ("--name",))
    if not command:
        fail("parent-runs needs -- BIN ARG...")
    set_name(options.get("--name"))
    block_stop_signals()
    sock = listener(0)
    port = sock.getsockname()[1]
    pass_fds = ()
    if options.get("--pass-fd"):
        sock.set_inheritable(True)
        pass_fds = (sock.fileno(),)
    report = run_child(command, port, pass_fds)
    report.update({"pid": os.getpid(), "port": port, "pending": pending()})
    say(report)
    wait_for_eof()


def mode_ns_init_holder(argv):
    options, command = parse(argv, (), ("--name",))
    if not command:
        fail("ns-init-holder needs -- BIN ARG...")
    set_name(options.get("--name"))
    block_stop_signals()
    sock = listener(0)
    port = sock.getsockname()[1]
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    runner = os.fork()
    if runner == 0:
        try:
            os.close(read_end)
            sock.close()  # the only holder must be pid 1
            set_name("ps-runner")
            unblock_all_signals()
            report = run_child(command, port)
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(runner, 0)
    text = b"".join(chunks).decode()
    report = json.loads(text) if text else {"error": "the runner reported nothing"}
    report.update(
        {"pid": os.getpid(), "port": port, "runner_pid": runner, "pending": pending()}
    )
    say(report)
    wait_for_eof()


class Orchestrator:
    def __init__(self):
        self.children = set()

    def fork(self, name, port, hold, block):
        """Forks a process that (optionally) listens on port; returns (pid, bound port, error)."""
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)
                os.close(devnull)
                set_name(name)
                if block:
                    block_stop_signals()
                held = [listener(port, reuseaddr=True)] if hold else []
                bound = held[0].getsockname()[1] if held else 0
                os.write(write_end, ("ok %d\n" % bound).encode())
                os.close(write_end)
                while held is not None:  # `held` keeps the listener open
                    signal.pause()
            except BaseException as error:
                try:
                    os.write(write_end, ("err %r\n" % (error,)).encode())
                finally:
                    os._exit(3)
            os._exit(0)
        self.children.add(pid)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            line = pipe.readline().decode().strip()
        if not line.startswith("ok "):
            self.kill(pid)
            return pid, None, line or "exited without a word"
        return pid, int(line[3:]), None

    def kill(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        self.children.discard(pid)

    def start(self, name, port):
        pid, bound, error = self.fork(name, int(port), hold=True, block=False)
        if error:
            return {"error": error, "where": "start"}
        return {"pid": pid, "port": bound}

    def reuse(self, old, name, port, hold):
        old = int(old)
        self.kill(old)
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(old - 1))
        except OSError as error:
            return {"error": str(error), "where": "ns_last_pid"}
        held = hold == "1"
        pid, bound, error = self.fork(name, int(port), hold=held, block=True)
        if error:
            return {"error": error, "where": "reuse", "pid": pid}
        return {"pid": pid, "same": pid == old, "held": held, "port": bound}


    def status(self, pid):
        pid = int(pid)
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return {"alive": False, "pending": 0}
        if done:
            self.children.discard(pid)
            return {"alive": False, "pending": 0}
        return {"alive": True, "pending": pending(pid)}

    def run(self):
        say({"pid": os.getpid()})
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            words = line.split()
            if not words:
                continue
            command, args = words[0], words[1:]
            if command == "start":
                say(self.start(*args))
            elif command == "reuse":
                say(self.reuse(*args))
            elif command == "status":
                say(self.status(*args))
            elif command == "kill":
                self.kill(int(args[0]))
                say({"ok": True})
            else:
                say({"error": "unknown command %r" % command, "where": "command"})
        for pid in list(self.children):
            self.kill(pid)


def main(argv):
    if not argv:
        fail("usage: kill_helpers.py MODE ...")
    mode, rest = argv[0], argv[1:]
    if mode == "listen":
        mode_listen(rest)
    elif mode == "parent-runs":
        mode_parent_runs(rest)
    elif mode == "ns-init-holder":
        mode_ns_init_holder(rest)
    elif mode == "ns-orchestrator":
        set_name("ps-orchestrator")
        Orchestrator().run()
    else:
        fail("unknown mode %r" % mode)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except OSError as error:
        fail(str(error))
