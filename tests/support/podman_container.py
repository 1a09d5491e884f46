#!/usr/bin/env python3
"""A real rootful podman container for portscope's tests (root; python3, stdlib only).

Needs Debian's `podman`, `runc` and `busybox-static`; no registry, no systemd. The image
(busybox only, about 1 MB) is built and imported once and then stays cached.

Usage: podman_container.py [OPTIONS]

Options:
  --name NAME          container name (default "ps-web-<pid>")
  --host-ip ADDR       published address on the host (default 127.0.0.1)
  --host-port N        published port on the host (default 18080)
  --container-port N   where busybox httpd listens inside (default 80)
  --image REF          (default localhost/portscope-busybox:1)

Exits 77 with one line on stderr when podman, runc or busybox is missing, so a test can
skip visibly.

Once the container runs it prints ONE JSON line on stdout:
  {"name": "...", "id": "<64 hex>", "image": "...", "pid": P (httpd, pid 1 inside),
   "conmon_pid": C (holds HOST_IP:HOST_PORT), "host_ip": "127.0.0.1", "host_port": 18080,
   "container_port": 80, "netns_path": "/run/netns/netns-<uuid>"}
then blocks until stdin is closed (or SIGTERM) and removes the container.

Why the flags: crun refuses this machine's hybrid cgroup setup (so `--runtime runc`), there
is no systemd (so `--cgroup-manager cgroupfs`), and podman's default ulimits exceed the hard
limits here. busybox httpd is pid 1 and ignores SIGTERM, so removal uses `-t 0`.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
BUSYBOX = "/bin/busybox"
STARTED = []


def skip(message):
    sys.stderr.write("podman_container.py: skip: %s\n" % message)
    sys.exit(77)


def fail(message):
    sys.stderr.write("podman_container.py: %s\n" % message)
    cleanup()
    sys.exit(2)


def cleanup():
    for name in STARTED:
        subprocess.run(PODMAN + ["rm", "-f", "-t", "0", name], capture_output=True)
    del STARTED[:]


def podman(*args):
    done = subprocess.run(PODMAN + list(args), capture_output=True, text=True)
    if done.returncode != 0:
        fail("podman %s: %s" % (" ".join(args), done.stderr.strip()))
    return done.stdout.strip()


def require_tools():
    for tool in ("podman", "runc"):
        if shutil.which(tool) is None:
            skip("%s is not installed (apt-get install podman runc busybox-static)" % tool)
    if not os.path.exists(BUSYBOX):
        skip("%s is missing (apt-get install busybox-static)" % BUSYBOX)


def ensure_image(image):
    """A root filesystem of one static busybox, imported once."""
    probe = subprocess.run(PODMAN + ["image", "exists", image])
    if probe.returncode == 0:
        return
    with tempfile.TemporaryDirectory(prefix="portscope-bb.") as work:
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
        for applet in ("sh", "httpd"):
            os.symlink("busybox", os.path.join(root, "bin", applet))
        tarball = os.path.join(work, "bb.tar")
        subprocess.run(["tar", "-C", root, "-cf", tarball, "."], check=True)
        podman("import", tarball, image)


def parse(argv):
    options = {
        "name": "ps-web-%d" % os.getpid(),
        "host_ip": "127.0.0.1",
        "host_port": 18080,
        "container_port": 80,
        "image": "localhost/portscope-busybox:1",
    }
    valued = {
        "--name": ("name", str),
        "--host-ip": ("host_ip", str),
        "--host-port": ("host_port", int),
        "--container-port": ("container_port", int),
        "--image": ("image", str),
    }
    i = 0
    while i < len(argv):
        if argv[i] not in valued or i + 1 >= len(argv):
            fail("unknown option or missing value: %s" % argv[i])
        key, convert = valued[argv[i]]
        options[key] = convert(argv[i + 1])
        i += 2
    return options


def run(options):
    publish = "%s:%d:%d" % (options["host_ip"], options["host_port"], options["container_port"])
    STARTED.append(options["name"])
    podman(
        "run", "-d", "--name", options["name"],
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        "-p", publish, options["image"],
        "/bin/httpd", "-f", "-p", str(options["container_port"]),
    )
    fmt = "{{.Id}} {{.State.Pid}} {{.State.ConmonPid}} {{.NetworkSettings.SandboxKey}}"
    container_id, pid, conmon_pid, netns = podman("inspect", "-f", fmt, options["name"]).split()
    return {
        "name": options["name"],
        "id": container_id,
        "image": options["image"],
        "pid": int(pid),
        "conmon_pid": int(conmon_pid),
        "host_ip": options["host_ip"],
        "host_port": options["host_port"],
        "container_port": options["container_port"],
        "netns_path": netns,
    }


def main(argv):
    options = parse(argv)
    require_tools()
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), os._exit(0)))
    ensure_image(options["image"])
    ready = run(options)
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
