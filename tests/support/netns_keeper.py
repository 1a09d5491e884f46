#!/usr/bin/env python3
"""Keeps a network namespace alive in a way `ip netns` cannot see (python3, stdlib only).

Usage: netns_keeper.py MODE NAME PORT

NAME is an `ip netns` name (/run/netns/NAME) made by the caller. The keeper makes what MODE
says, then deletes the name (`ip netns del NAME`), so the namespace lives on only through it:

  socket   the main thread enters NAME, makes a TCP listener on 0.0.0.0:PORT, and returns to
           its own namespace: only the socket keeps NAME (portscope must find it through the
           socket: pidfd_getfd + SIOCGSKNS)
  fd       holds an open fd of /run/netns/NAME (nothing runs inside; no socket)
  thread   a second thread enters NAME and makes a TCP listener on 0.0.0.0:PORT there; the
           main thread stays in its own namespace (/proc/PID/ns/net is not NAME, only
           /proc/PID/task/TID/ns/net is)

It prints ONE JSON line: {"pid": P, "netns_inode": N, "port": PORT, "mode": MODE}, then blocks
until stdin is closed and exits (the namespace goes with it).
"""

import ctypes
import json
import os
import socket
import subprocess
import sys
import threading

CLONE_NEWNET = 0x40000000


def fail(message):
    sys.stderr.write("netns_keeper.py: %s\n" % message)
    sys.exit(2)


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        fail("setns: errno %d" % ctypes.get_errno())


def listener(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(16)
    return sock


def main(argv):
    if len(argv) != 3:
        fail("usage: netns_keeper.py socket|fd|thread NAME PORT")
    mode, name, port = argv[0], argv[1], int(argv[2])
    path = "/run/netns/" + name
    inode = os.stat(path).st_ino
    keep = []
    if mode == "socket":
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(path, os.O_RDONLY)
        setns(target)
        keep.append(listener(port))
        setns(home)
        os.close(target)
        os.close(home)
    elif mode == "fd":
        keep.append(os.open(path, os.O_RDONLY))
    elif mode == "thread":
        ready = threading.Event()
        stop = threading.Event()

        def inside():
            target = os.open(path, os.O_RDONLY)
            setns(target)
            os.close(target)
            sock = listener(port)
            ready.set()
            stop.wait()
            sock.close()

        thread = threading.Thread(target=inside, daemon=True)
        thread.start()
        if not ready.wait(10):
            fail("the thread did not get ready")
        keep.append(stop)
    else:
        fail("unknown mode %r" % mode)
    subprocess.run(["ip", "netns", "del", name], check=True)
    print(json.dumps({"pid": os.getpid(), "netns_inode": inode, "port": port, "mode": mode}))
    sys.stdout.flush()
    sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1:])
