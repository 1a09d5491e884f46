#!/usr/bin/env python3
"""Compares portscope's JSON with a fixture manifest, socket by socket and pid by pid.

    ip netns exec psfx target/release/portscope --once --json > /tmp/out.json
    bench/check_manifest.py /tmp/portscope-fixture-psfx.json /tmp/out.json

JSON may be `-` (standard input). Sockets are matched by inode; for each one the protocol,
family, local address, port, owning uid, state and the exact set of holding pids must
agree, and every holder's name, command line, uid and parent pid must be what the holder
set, passed through portscope's documented sanitizer (src/sanitize.rs), re-implemented
here from its description. Any socket portscope lists that the fixture did not create is a
mismatch too. With `portscope --once --all --json` the established connections are
checked as well: how many each process holds.

Exit status: 0 full match, 1 mismatch (a diff is printed), 2 unreadable input.
"""

import ipaddress
import json
import sys
import unicodedata
from collections import Counter

LISTENING = {"LISTEN", "UNCONN"}
ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"}
SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}
MAX_DIFF_LINES = 60


def sanitize(raw):
    """portscope's sanitizer: visible escapes for control, format, separator, private-use and
    unassigned characters, and \\xNN for each byte that is not valid UTF-8."""
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[ch])
        elif code < 0x80:
            out.append(ch if 0x20 <= code < 0x7F else f"\\x{code:02x}")
        elif unicodedata.category(ch) in ESCAPED_CATEGORIES:
            out.append(f"\\u{{{code:x}}}")
        else:
            out.append(ch)
    return "".join(out)


def raw_name(process):
    return bytes.fromhex(process["comm_hex"]) if "comm_hex" in process else process["name"].encode()


def raw_cmdline(process):
    if "cmdline_hex" in process:
        return [bytes.fromhex(a) for a in process["cmdline_hex"]]
    return [a.encode() for a in process["cmdline"]]


def load_json(path):
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"check_manifest: cannot read {path}: {e}")


class Expected:
    """The manifest, indexed: sockets by inode, processes by pid."""

    def __init__(self, manifest):
        self.sockets = {}
        self.processes = {}
        self.established = Counter()
        for process in manifest["processes"]:
            self.processes[process["pid"]] = process
            self.established[process["pid"]] = process.get("established", 0)
            for proto in ("tcp", "udp"):
                for sock in process[proto]:
                    entry = self.sockets.setdefault(
                        sock["inode"], dict(sock, proto=proto, pids=set()))
                    entry["pids"].add(process["pid"])


class Checker:
    def __init__(self, expected):
        self.expected = expected
        self.diffs = []
        self.checked_pids = set()

    def fail(self, line):
        self.diffs.append(line)

    def check(self, document):
        listeners = [s for s in document["sockets"] if s["state"] in LISTENING]
        others = [s for s in document["sockets"] if s["state"] not in LISTENING]
        got = {}
        for sock in listeners:
            if sock["inode"] in got:
                self.fail(f"+ socket inode {sock['inode']} listed twice")
            got[sock["inode"]] = sock
        for inode, want in sorted(self.expected.sockets.items(), key=lambda kv: kv[1]["port"]):
            if inode not in got:
                self.fail(f"- missing {label(want)} (inode {inode}) held by {sorted(want['pids'])}")
            else:
                self.check_socket(want, got[inode])
        for inode, sock in got.items():
            if inode not in self.expected.sockets:
                pids = [p["pid"] for p in sock["processes"]]
                where = addr_port(sock["local_addr"], sock["port"])
                self.fail(f"+ unexpected {sock['proto']} {where}"
                          f" {sock['state']} (inode {inode}) held by {pids}")
        if others:
            self.check_connections(others)
        return listeners, others

    def check_socket(self, want, sock):
        where = f"{label(want)} (inode {sock['inode']})"
        family = "ipv6" if ":" in want["addr"] else "ipv4"
        state = "LISTEN" if want["proto"] == "tcp" else "UNCONN"
        same_addr = ipaddress.ip_address(sock["local_addr"]) == ipaddress.ip_address(want["addr"])
        for field, have, expect in [
            ("proto", sock["proto"], want["proto"]),
            ("family", sock["family"], family),
            ("local_addr", want["addr"] if same_addr else sock["local_addr"], want["addr"]),
            ("port", sock["port"], want["port"]),
            ("state", sock["state"], state),
            ("uid", sock["uid"], want["uid"]),
            # "partial": the holders are all there, and portscope says others *may* be, because
            # some process (here: a pid 1 that even root cannot read) could not be looked at.
            ("owner", "known" if sock["owner"] == "partial" else sock["owner"], "known"),
        ]:

            if have != expect:
                self.fail(f"~ {where}: {field} is {have!r}, expected {expect!r}")
        pids = {p["pid"] for p in sock["processes"]}
        if pids != want["pids"]:
            missing, extra = sorted(want["pids"] - pids), sorted(pids - want["pids"])
            self.fail(f"~ {where}: held by {sorted(pids)}, expected {sorted(want['pids'])}"
                      f" (missing {missing}, extra {extra})")
        for process in sock["processes"]:
            pid = process["pid"]
            if pid in self.expected.processes and pid not in self.checked_pids:
                self.checked_pids.add(pid)
                self.check_process(process)

    def check_process(self, got):
        want = self.expected.processes[got["pid"]]
        name = sanitize(raw_name(want))
        cmdline = [sanitize(a) for a in raw_cmdline(want) if a]  # empty arguments are not shown
        for field, have, expect in [
            ("name", got["name"], name),
            ("cmdline", got["cmdline"], cmdline),
            ("uid", got["uid"], want["uid"]),
            ("ppid", got["ppid"], want["ppid"]),
        ]:
            if have != expect:
                self.fail(f"~ pid {got['pid']}: {field} is {have!r}, expected {expect!r}")

    def check_connections(self, sockets):
        """With --all: each process holds exactly the established sockets the fixture made."""
        held = Counter()
        for sock in sockets:
            if sock["state"] != "ESTABLISHED" or sock["proto"] != "tcp":
                self.fail(f"+ unexpected {sock['proto']} {sock['state']} "
                          f"{addr_port(sock['local_addr'], sock['port'])} (inode {sock['inode']})")
                continue
            pids = [p["pid"] for p in sock["processes"]]
            if len(pids) != 1:
                self.fail(f"~ connection inode {sock['inode']}: held by {pids}, expected one pid")
            for pid in pids:
                held[pid] += 1
        for pid in sorted(set(held) | {p for p, n in self.expected.established.items() if n}):
            if held[pid] != self.expected.established[pid]:
                self.fail(f"~ pid {pid}: holds {held[pid]} established sockets, "
                          f"expected {self.expected.established[pid]}")


def label(sock):
    return f"{sock['proto']} {addr_port(sock['addr'], sock['port'])}"


def addr_port(addr, port):
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if len(argv) != 2:
        print("usage: check_manifest.py MANIFEST JSON|-  (see --help)", file=sys.stderr)
        return 2
    manifest, document = load_json(argv[0]), load_json(argv[1])
    expected = Expected(manifest)
    checker = Checker(expected)
    try:
        listeners, others = checker.check(document)
    except (KeyError, TypeError) as e:
        print(f"check_manifest: {argv[1]} is not portscope JSON (schema 1): missing {e}",
              file=sys.stderr)
        return 2
    for warning in document.get("warnings", []):
        print(f"note: portscope warned: {warning}")
    by_proto = Counter(s["proto"] for s in expected.sockets.values())
    holders = {pid for s in expected.sockets.values() for pid in s["pids"]}
    if checker.diffs:
        print(f"MISMATCH: {len(checker.diffs)} difference(s) between {argv[1]} and the manifest "
              f"{argv[0]} (- expected, missing; + unexpected; ~ differs):")
        for line in checker.diffs[:MAX_DIFF_LINES]:
            print(f"  {line}")
        if len(checker.diffs) > MAX_DIFF_LINES:
            print(f"  ... and {len(checker.diffs) - MAX_DIFF_LINES} more")
        return 1
    shared = sum(1 for s in expected.sockets.values() if len(s["pids"]) > 1)
    print(f"match: {by_proto['tcp']} TCP listeners and {by_proto['udp']} UDP sockets "
          f"({shared} shared by several processes), {len(holders)} holder processes "
          "(name, command line, uid, parent) agree with the manifest, socket by socket, "
          "pid by pid")
    if others:
        conns = sum(expected.established.values())
        print(f"match: {conns} established sockets, per process, as the fixture made them")
    elif sum(expected.established.values()):
        print("(established connections not checked: run portscope with --all to check them)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
