#!/usr/bin/env python3
"""A real Docker-style published port for portscope's tests (root; python3, stdlib only).

Runs Debian's real `docker-proxy` (package docker.io) without dockerd, between two fresh
network namespaces joined by a veth pair:

    netns HOST ("the host"):      HOST_IP:HOST_PORT held by docker-proxy
                                  veth end 172.31.250.1/30
    netns CTR  ("the container"): veth end 172.31.250.2/30, and a listener on
                                  LISTEN_ADDR:CONTAINER_PORT (a forked child of this script)

Usage: published_port.py [OPTIONS]

Options:
  --prefix P          namespace names are P + "h" and P + "c" (default "pspp<pid>")
  --proto tcp|udp     (default tcp)
  --host-ip ADDR      docker-proxy's -host-ip (default 0.0.0.0)
  --host-port N       docker-proxy's -host-port (default 8080; the host netns is fresh, so
                      any port is free there)
  --container-port N  (default 80)
  --listen-addr ADDR  where the listener inside binds (default: the container's veth
                      address). 127.0.0.1 gives "listens on loopback only, unreachable"
  --no-listener       nothing listens inside ("published, but nothing listens")
  --proxy PATH        the docker-proxy binary (default /usr/sbin/docker-proxy)

Exits 77 with one line on stderr when the docker-proxy binary is missing
(apt-get install docker.io), so a test can skip visibly.

docker-proxy (20.10, and any release before moby#48132) writes its status to fd 3: "0\n"
when its listener is up, "1\n<error>" when not. Without an fd 3 it wraps its *own listener*
(which got fd 3) and closes it ("accept4: bad file descriptor"), so fd 3 is always a pipe
here. This release rejects `-use-listen-fd` ("flag provided but not defined").

Once docker-proxy reported "0" it prints ONE JSON line on stdout:
  {"host_netns": "...h", "container_netns": "...c",
   "host_netns_path": "/run/netns/...h", "container_netns_path": "/run/netns/...c",
   "proxy_pid": P, "listener_pid": L or null, "proto": "tcp",
   "host_ip": "0.0.0.0", "host_port": 8080, "host_veth_ip": "172.31.250.1",
   "container_ip": "172.31.250.2", "container_port": 80, "listen_addr": "172.31.250.2",
   "proxy_argv": [...]}
then blocks until stdin is closed (or SIGTERM), kills and reaps both processes and deletes
both namespaces (which deletes the veth pair). A TCP client of HOST_PORT gets one line
"hello from <peer ip>:<peer port>\n"; a UDP datagram is echoed back.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys

CLONE_NEWNET = 0x40000000
HOST_VETH_IP = "172.31.250.1"
CONTAINER_IP = "172.31.250.2"

NAMESPACES = []
CHILDREN = []


def skip(message):
    sys.stderr.write("published_port.py: skip: %s\n" % message)
    sys.exit(77)


def fail(message):
    sys.stderr.write("published_port.py: %s\n" % message)
    sys.stderr.flush()
    cleanup()
    sys.exit(2)


def cleanup():
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
    del CHILDREN[:]
    for name in NAMESPACES:
        subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
    del NAMESPACES[:]


def ip(*args):
    done = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if done.returncode != 0:
        fail("ip %s: %s" % (" ".join(args), done.stderr.strip()))


def make_namespaces(host, ctr):
    """Two fresh namespaces with lo up and a veth pair between them. The pair is created
    directly inside them, so its names never meet another test's in the root namespace."""
    for name in (host, ctr):
        ip("netns", "add", name)
        NAMESPACES.append(name)
        ip("-n", name, "link", "set", "lo", "up")
    ip("-n", host, "link", "add", "psv0", "type", "veth", "peer", "name", "psv1", "netns", ctr)
    ip("-n", host, "addr", "add", HOST_VETH_IP + "/30", "dev", "psv0")
    ip("-n", ctr, "addr", "add", CONTAINER_IP + "/30", "dev", "psv1")
    ip("-n", host, "link", "set", "psv0", "up")
    ip("-n", ctr, "link", "set", "psv1", "up")


def enter_netns(name):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns(%s)" % name)
    finally:
        os.close(fd)


def serve(sock, proto):
    """The listener's life: greet each TCP client, echo each UDP datagram."""
    while True:
        if proto == "tcp":
            conn, peer = sock.accept()
            conn.sendall(("hello from %s:%d\n" % peer[:2]).encode())
            conn.close()
        else:
            data, peer = sock.recvfrom(65536)
            sock.sendto(data, peer)


def start_listener(ctr, proto, addr, port):
    """Forks a child that enters the container namespace, binds, reports "ok", serves."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            enter_netns(ctr)
            kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
            sock = socket.socket(socket.AF_INET, kind)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((addr, port))
            if proto == "tcp":
                sock.listen(16)
            os.write(write_end, b"ok\n")
            os.close(write_end)
            serve(sock, proto)
        except BaseException as error:  # report anything to the parent, never run its code
            try:
                os.write(write_end, ("err %r\n" % (error,)).encode())
            finally:
                os._exit(3)
        os._exit(0)
    CHILDREN.append(pid)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        line = pipe.readline().decode().strip()
    if line != "ok":
        fail("listener in %s failed: %s" % (ctr, line or "exited without a word"))
    return pid


def start_proxy(host, options):
    """docker-proxy inside the host namespace (`ip netns exec` execs, so the pid is the
    proxy's), with fd 3 the write end of a status pipe."""
    argv = [
        options["proxy"],
        "-proto", options["proto"],
        "-host-ip", options["host_ip"],
        "-host-port", str(options["host_port"]),
        "-container-ip", CONTAINER_IP,
        "-container-port", str(options["container_port"]),
    ]
    read_end, write_end = os.pipe()
    proxy = subprocess.Popen(
        ["ip", "netns", "exec", host] + argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        pass_fds=(3,),
        preexec_fn=lambda: os.dup2(write_end, 3),
    )
    CHILDREN.append(proxy.pid)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        status = pipe.read()
    if not status.startswith(b"0\n"):
        fail("docker-proxy did not start: %r" % status)
    return proxy.pid, argv


def parse(argv):
    options = {
        "prefix": "pspp%d" % os.getpid(),
        "proto": "tcp",
        "host_ip": "0.0.0.0",
        "host_port": 8080,
        "container_port": 80,
        "listen_addr": CONTAINER_IP,
        "listener": True,
        "proxy": "/usr/sbin/docker-proxy",
    }
    valued = {
        "--prefix": ("prefix", str),
        "--proto": ("proto", str),
        "--host-ip": ("host_ip", str),
        "--host-port": ("host_port", int),
        "--container-port": ("container_port", int),
        "--listen-addr": ("listen_addr", str),
        "--proxy": ("proxy", str),
    }
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--no-listener":
            options["listener"] = False
            i += 1
            continue
        if arg not in valued or i + 1 >= len(argv):
            fail("unknown option or missing value: %s" % arg)
        key, convert = valued[arg]
        options[key] = convert(argv[i + 1])
        i += 2
    if options["proto"] not in ("tcp", "udp"):
        fail("--proto must be tcp or udp")
    return options


def main(argv):
    options = parse(argv)
    if not os.access(options["proxy"], os.X_OK):
        skip("%s is missing (apt-get install docker.io)" % options["proxy"])
    host, ctr = options["prefix"] + "h", options["prefix"] + "c"
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), os._exit(0)))
    make_namespaces(host, ctr)
    listener = None
    if options["listener"]:
        listener = start_listener(
            ctr, options["proto"], options["listen_addr"], options["container_port"]
        )
    proxy_pid, proxy_argv = start_proxy(host, options)
    ready = {
        "host_netns": host,
        "container_netns": ctr,
        "host_netns_path": "/run/netns/" + host,
        "container_netns_path": "/run/netns/" + ctr,
        "proxy_pid": proxy_pid,
        "listener_pid": listener,
        "proto": options["proto"],
        "host_ip": options["host_ip"],
        "host_port": options["host_port"],
        "host_veth_ip": HOST_VETH_IP,
        "container_ip": CONTAINER_IP,
        "container_port": options["container_port"],
        "listen_addr": options["listen_addr"] if listener else None,
        "proxy_argv": proxy_argv,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        while os.read(0, 4096):
            pass
    finally:
        cleanup()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except OSError as error:
        fail(str(error))
