#!/usr/bin/env python3
"""Sets up one case of the bind matrix inside the current network namespace (run it with
`ip netns exec NAME`), prints ONE JSON ready line, and keeps everything until stdin closes.
Also tries binds the way a user's server would, to compare with portscope (python3, stdlib only).

Usage:
  bind_case.py listener ADDR PORT [reuseaddr] [reuseport] [v6only] [as=UID]
  bind_case.py bound ADDR PORT [reuseaddr]         TCP bound, never listening
  bind_case.py timewait PORT [reuseaddr]           a TIME_WAIT on 127.0.0.1:PORT, server side
  bind_case.py finwait PORT                        the server closed its end, the client did
                                                   not: an orphan in FIN_WAIT2 on PORT
  bind_case.py outgoing PORT                       a connection autobound to local port PORT
                                                   (sets this namespace's ip_local_port_range)
  bind_case.py udp ADDR PORT [reuseaddr]
  bind_case.py try PROTO ADDR PORT [reuseaddr] [reuseport] [v6only] [as=UID]
                                                   one bind (+ listen for TCP); prints the errno
                                                   name ("ok" when it worked) and exits

Ready line: {"pid": P, "case": "...", "port": N, "extra": {...}}
"""

import errno
import json
import os
import socket
import sys
import time

HELD = []


def flags(words):
    return {
        "reuseaddr": "reuseaddr" in words,
        "reuseport": "reuseport" in words,
        "v6only": "v6only" in words,
        "uid": next((int(w[3:]) for w in words if w.startswith("as=")), None),
    }


def make(proto, addr, port, opts):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    if opts["reuseaddr"]:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if opts["reuseport"]:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if opts["v6only"] else 0)
    s.bind((addr, port))
    return s


def as_user(uid):
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def ready(case, port, **extra):
    print(json.dumps({"pid": os.getpid(), "case": case, "port": port, "extra": extra}), flush=True)
    sys.stdin.read()


def main(argv):
    case = argv[0]
    if case == "try":
        proto, addr, port = argv[1], argv[2], int(argv[3])
        opts = flags(argv[4:])
        as_user(opts["uid"])
        try:
            s = make(proto, addr, port, opts)
            if proto == "tcp":
                s.listen(1)
            s.close()
            print("ok")
        except OSError as e:
            print(errno.errorcode.get(e.errno, str(e.errno)))
        return
    if case in ("listener", "bound", "udp"):
        addr, port = argv[1], int(argv[2])
        opts = flags(argv[3:])
        as_user(opts["uid"])
        s = make("udp" if case == "udp" else "tcp", addr, port, opts)
        if case == "listener":
            s.listen(16)
        HELD.append(s)
        ready(case, port)
    elif case == "timewait":
        port = int(argv[1])
        opts = flags(argv[2:])
        server = make("tcp", "127.0.0.1", port, opts)
        server.listen(1)
        client = socket.create_connection(("127.0.0.1", port))
        conn, peer = server.accept()
        conn.close()  # the server side closes first: its end goes to TIME_WAIT
        time.sleep(0.1)
        client.close()
        server.close()
        time.sleep(0.1)
        ready(case, port, peer_port=peer[1])
    elif case == "finwait":
        port = int(argv[1])
        server = make("tcp", "127.0.0.1", port, flags([]))
        server.listen(1)
        client = socket.create_connection(("127.0.0.1", port))
        conn, peer = server.accept()
        conn.close()  # the server's end: FIN_WAIT1, then FIN_WAIT2 once the FIN is acked
        server.close()
        HELD.append(client)  # the client never closes: its end stays in CLOSE_WAIT
        time.sleep(0.1)
        ready(case, port, peer_port=peer[1])
    elif case == "outgoing":
        port = int(argv[1])
        # The server on a port of its own first, then the range narrowed to PORT alone, so
        # the client's connection can only get PORT.
        server = make("tcp", "127.0.0.1", port + 1, flags([]))
        server.listen(1)
        with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
            f.write(f"{port} {port}")
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        HELD.extend([server, client, conn])
        ready(case, port, local=client.getsockname()[1])
    else:
        sys.exit(f"bind_case.py: unknown case {case!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
