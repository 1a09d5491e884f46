#!/usr/bin/env bash
# Renders the README screenshots into screenshots/*.png (run as root: `sudo make screenshots`).
#
# Builds the release binary, starts the small fixture (bench/fixture.py) in network namespace
# psshot, runs portscope inside it in a private tmux server (tmux -L psshot, 110x32), captures
# each screen with `tmux capture-pane -e`, turns it into HTML (scripts/ansi2html.py) and
# renders a PNG with headless Chromium:
#
#   tui.png          the live view
#   tui-details.png  the live view with the details pane of the nginx 0.0.0.0:80 row
#   tui-help.png     the help overlay
#   once.png         portscope --once --color always (the whole output)
#   query.png        portscope 3000 80 --color always
#
# Same fixture, same terminal size, same theme on every run; only pids, times and the host
# name differ. The fixture and the tmux server are stopped on exit, however it exits.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
NETNS=psshot
SOCKET=psshot
COLS=110
ROWS=32
BIN=$ROOT/target/release/portscope
OUT=$ROOT/screenshots
CHROMIUM=${CHROMIUM:-chromium}

say() { echo "screenshots: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# Installs what is missing when root (apt-get); otherwise names each missing tool and package.
tools_ok=true
scripts/ensure-tools.sh python3 tmux ip "$CHROMIUM" || tools_ok=false
if [ "$(id -u)" -ne 0 ]; then
  die "needs root: the fixture creates a network namespace (run: sudo make screenshots)"
fi
$tools_ok || die "cannot continue without the tools named above"
command -v "${CARGO:-cargo}" >/dev/null ||
  die "${CARGO:-cargo} not found in PATH (under sudo, try: sudo env PATH=\"\$PATH\" make screenshots)"
${CARGO:-cargo} build --release

work=$(mktemp -d /tmp/portscope-screenshots.XXXXXX)
fixture_pid=

stop_fixture() {
  [ -n "$fixture_pid" ] || return 0
  rm -f "$work/ready" # the fixture stops when its ready file goes…
  kill -TERM "$fixture_pid" 2>/dev/null || true # …or on SIGTERM
  wait "$fixture_pid" 2>/dev/null || true
  fixture_pid=
}

cleanup() {
  tmux -L "$SOCKET" kill-server 2>/dev/null || true
  stop_fixture
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

tm() { env -u NO_COLOR LANG=C.UTF-8 tmux -u -L "$SOCKET" -f "$work/tmux.conf" "$@"; }

# ---- the fixture -------------------------------------------------------------------------------

start_fixture() {
  if ip netns list | grep -qE "^$NETNS( |$)"; then
    if [ -n "$(ip netns pids "$NETNS")" ]; then
      die "netns $NETNS exists and has processes in it; is another 'make screenshots' running?"
    fi
    say "removing the leftover, empty netns $NETNS"
    ip netns del "$NETNS"
  fi
  bench/fixture.py --netns "$NETNS" --size small --hold 600 \
    --manifest "$work/manifest.json" --ready-file "$work/ready" \
    >"$work/fixture.out" 2>"$work/fixture.err" &
  fixture_pid=$!
  for _ in $(seq 600); do
    grep -q '^ready' "$work/fixture.out" && return 0
    if ! kill -0 "$fixture_pid" 2>/dev/null; then
      cat "$work/fixture.err" >&2
      fixture_pid=
      die "the fixture failed to start"
    fi
    sleep 0.1
  done
  die "the fixture was not ready within 60 s"
}

# ---- tmux --------------------------------------------------------------------------------------

write_tmux_conf() {
  local term=screen-256color
  infocmp tmux-256color >/dev/null 2>&1 && term=tmux-256color
  cat >"$work/tmux.conf" <<EOF
set -g default-terminal "$term"
set -g status off
set -g history-limit 10000
set -g escape-time 0
EOF
}

# Waits until the screen of session $1 shows the extended regex $2 (10 s at most).
wait_for() {
  for _ in $(seq 100); do
    tm capture-pane -t "$1" -p | grep -qE -- "$2" && return 0
    sleep 0.1
  done
  tm capture-pane -t "$1" -p >&2 || true
  die "session $1 never showed /$2/"
}

capture() { tm capture-pane -t "$1" -e -p -N >"$work/$2.ansi"; }

# The live view, its details pane on the nginx 0.0.0.0:80 row, and the help overlay.
shoot_tui() {
  tm new-session -d -s tui -x "$COLS" -y "$ROWS" "ip netns exec $NETNS $BIN"
  wait_for tui 'Registered 1024'
  sleep 2 # a couple of refreshes, so the screen has settled
  capture tui tui

  local esc=$'\e' selected
  selected="^(${esc}\[[0-9;]*m)*${esc}\[([0-9]+;)*7(;[0-9]+)*m(${esc}\[[0-9;]*m)*tcp +0\.0\.0\.0:80 "
  for _ in $(seq 60); do
    tm capture-pane -t tui -e -p | grep -qaE "$selected" && break
    tm send-keys -t tui j
    sleep 0.15
  done
  tm capture-pane -t tui -e -p | grep -qaE "$selected" || die "could not select the nginx :80 row"
  tm send-keys -t tui Enter
  wait_for tui '0\.0\.0\.0:80 · LISTEN'
  sleep 0.5
  capture tui tui-details

  tm send-keys -t tui Escape
  sleep 0.3
  tm send-keys -t tui '?'
  wait_for tui 'Port ranges'
  sleep 0.3
  capture tui tui-help
  tm send-keys -t tui q
}

# A command as typed at a prompt, its whole output (scrollback included), and the next prompt.
shoot_command() {
  local name=$1 shown=$2
  shift 2
  cat >"$work/$name.sh" <<EOF
printf '\$ %s\n' '$shown'
ip netns exec $NETNS $BIN $*
printf '\$ \n'
tmux -L $SOCKET wait-for -S $name-done
exec sleep 600
EOF
  tm new-session -d -s "$name" -x "$COLS" -y "$ROWS" "sh $work/$name.sh"
  timeout 30 env -u NO_COLOR tmux -L "$SOCKET" wait-for "$name-done" || die "$shown did not finish"
  tm capture-pane -t "$name" -e -p -N -S - -E - >"$work/$name.ansi"
}

# ---- HTML and PNG ------------------------------------------------------------------------------

chromium_run() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$(mktemp -d "$work/chromium.XXXXXX")" "$@" 2>>"$work/chromium.log"
}

# $1: capture name; $2: title; further arguments go to ansi2html.py (e.g. --rows 32).
render() {
  local name=$1 title=$2 size
  shift 2
  python3 scripts/ansi2html.py --strict --cols "$COLS" --title "$title" "$@" \
    -o "$work/$name.html" "$work/$name.ansi"
  # The page measures itself (fonts differ between machines); then it is shot at that size.
  size=$(chromium_run --dump-dom "file://$work/$name.html" |
    sed -n 's/.*data-size="\([0-9]*\)x\([0-9]*\)".*/\1,\2/p')
  [ -n "$size" ] || {
    tail -5 "$work/chromium.log" >&2
    die "chromium could not lay out $name.html"
  }
  rm -f "$OUT/$name.png"
  chromium_run --screenshot="$OUT/$name.png" --window-size="$size" "file://$work/$name.html" \
    >/dev/null
  [ -s "$OUT/$name.png" ] || {
    tail -5 "$work/chromium.log" >&2
    die "chromium wrote no $name.png"
  }
  say "wrote screenshots/$name.png (${size/,/x})"
}

# ---- main --------------------------------------------------------------------------------------

mkdir -p "$OUT"
write_tmux_conf
start_fixture
say "fixture ready in netns $NETNS ($(grep -o 'processes=[0-9]*' "$work/fixture.out"))"
shoot_tui
shoot_command once "portscope --once --color always" --once --color always
shoot_command query "portscope 3000 80 --color always" 3000 80 --color always
tm kill-server 2>/dev/null || true
stop_fixture

render tui "portscope" --rows "$ROWS"
render tui-details "portscope: details" --rows "$ROWS"
render tui-help "portscope: help" --rows "$ROWS"
render once "portscope --once"
render query "portscope 3000 80"
