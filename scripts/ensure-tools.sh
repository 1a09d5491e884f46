#!/usr/bin/env bash
# Makes sure the programs named on the command line exist, installing their Debian packages
# with apt-get when running as root; otherwise says exactly what is missing and fails.
# Usage: scripts/ensure-tools.sh tmux python3 ip ...
set -euo pipefail

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
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  exit 0
fi
echo "missing: ${missing[*]}; install the packages: ${packages[*]}" >&2
echo "(e.g. sudo apt-get install ${packages[*]})" >&2
exit 1
