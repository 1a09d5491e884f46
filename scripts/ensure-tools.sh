#!/usr/bin/env bash
# Makes sure the programs named on the command line exist, installing their Debian packages
# with apt-get when running as root; otherwise says exactly what is missing and fails.
# Usage: scripts/ensure-tools.sh [--no-recommends] [--no-start] tmux python3 ip ...
#
#   --no-recommends  apt-get --no-install-recommends (daemons and chromium otherwise bring in
#                    systemd, avahi and friends that nothing here needs)
#   --no-start       do not let the packages' maintainer scripts start their services: a
#                    policy-rc.d that says no (exit 101) is put in place for the install and
#                    removed after it, unless the machine already has one
set -euo pipefail

recommends=()
no_start=false
while [ $# -gt 0 ]; do
  case "$1" in
    --no-recommends) recommends=(--no-install-recommends) ;;
    --no-start) no_start=true ;;
    *) break ;;
  esac
  shift
done

package_for() {
  case "$1" in
    ip | ss) echo iproute2 ;;
    unshare | nsenter | prlimit | setpriv) echo util-linux ;;
    cc) echo gcc ;;
    useradd | userdel) echo passwd ;;
    fuser) echo psmisc ;;
    netstat) echo net-tools ;;
    clang) echo clang ;;
    promtool) echo prometheus ;;
    nginx) echo nginx-light ;;
    redis-cli | redis-benchmark) echo redis-tools ;;
    dnsmasq) echo dnsmasq-base ;; # the daemon alone, without the package's service
    sshd) echo openssh-server ;;
    ssh-keygen) echo openssh-client ;;
    postgres | initdb | pg_ctl) echo postgresql ;;
    *) echo "$1" ;;
  esac
}

missing=()
for tool in "$@"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0

packages=()
for tool in "${missing[@]}"; do packages+=("$(package_for "$tool")"); done
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${packages[*]} (for: ${missing[*]})" >&2
  policy=/usr/sbin/policy-rc.d
  if $no_start && [ ! -e "$policy" ]; then
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\n# scripts/ensure-tools.sh --no-start: no service starts during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${recommends[@]}" "${packages[@]}" >/dev/null
  exit 0
fi
echo "missing: ${missing[*]}; install the packages: ${packages[*]}" >&2
echo "(e.g. sudo apt-get install ${recommends[*]} ${packages[*]})" >&2
exit 1
