#!/usr/bin/env bash
# Renders the README screenshots into screenshots/*.png (run as root: `sudo make screenshots`).
#
# Builds the release binary and starts real daemons, each as the user it usually runs as, in
# a fresh network namespace psshot (loopback up, and an eth0 with 192.168.1.10/24, one end of
# a veth pair whose other end stays inside too, so that wildcard, loopback and one-address
# binds all show):
#
#   nginx       master (root) + 2 workers (www-data): 0.0.0.0 and [::] on 80 and 443 (TLS,
#               a throwaway self-signed certificate); three slow downloads stay open
#   sshd        0.0.0.0:22 and [::]:22, a throwaway host key; one `ssh -N` session stays open
#   dnsmasq     DNS only (no DHCP, no resolv.conf, no /etc/hosts) on 127.0.0.1 and
#               192.168.1.10, udp and tcp 53, as dnsmasq
#   postgres    a throwaway cluster (initdb) as postgres on 127.0.0.1 and ::1:5432; two
#               psql sessions stay open
#   redis       redis-server as redis on 127.0.0.1 and ::1:6379, no persistence; three
#               redis-cli clients block on BLPOP
#   dev server  python3 -m http.server 3000, as $SUDO_USER (else nobody)
#
# Every config, key, data directory and log lives in one mktemp directory; nothing under /etc
# is written, no service of the packages is started, and the only file made outside is sshd's
# privilege-separation directory /run/sshd when it is missing (removed again after). portscope then runs in that namespace
# in a private tmux server (tmux -L psshot, 110x32 unless said); each screen is captured with
# `tmux capture-pane -e`, turned into HTML (scripts/ansi2html.py) and rendered as a PNG by
# headless Chromium:
#
#   tui.png          the live view (--interval 2s)
#   tui-details.png  the details pane of the nginx 0.0.0.0:80 row, with what a new bind of
#                    port 80 would meet (110x48, so that all of it shows)
#   tui-help.png     the help overlay
#   once.png         portscope --once (the whole output; colour, as on any terminal)
#   query.png        portscope 80 6379
#   bind.png         portscope 8000, then portscope 8000 --bind --reuseaddr: nothing listens,
#                    yet a bind fails, because a dev server that just stopped left a
#                    TIME_WAIT; with SO_REUSEADDR it succeeds (150x32: one line each)
#
# Same daemons, same terminal sizes, same theme on every run; only pids, times and the host
# name differ. On exit, however it exits, every process in the namespace is stopped, the
# namespace deleted, the tmux server stopped and the temporary directory removed.
#
# Missing programs are installed with apt-get (scripts/ensure-tools.sh, without recommended
# packages and without starting their services): nginx-light, openssh-server, dnsmasq-base,
# postgresql, redis-server, redis-tools, chromium, tmux, iproute2, curl, openssl.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
NETNS=psshot
SOCKET=psshot
COLS=110
ROWS=32
DETAILS_ROWS=48 # the details pane of nginx's row, all of it
BIND_COLS=150   # the TIME_WAIT explanation on one line
LAN_ADDR=192.168.1.10
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/portscope
OUT=$ROOT/screenshots
CHROMIUM=${CHROMIUM:-chromium}

say() { echo "screenshots: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# Installs what is missing when root (apt-get); otherwise names each missing tool and package.
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
tools=(python3 tmux ip ss setpriv curl openssl ssh ssh-keygen sshd nginx dnsmasq redis-server
  redis-cli psql "$CHROMIUM")
[ -x "$(pg_bin)/postgres" ] || tools+=(postgres)
tools_ok=true
scripts/ensure-tools.sh --no-recommends --no-start "${tools[@]}" || tools_ok=false
if [ "$(id -u)" -ne 0 ]; then
  die "needs root: it creates a network namespace and runs daemons (run: sudo make screenshots)"
fi
$tools_ok || die "cannot continue without the tools named above"
PG_BIN=$(pg_bin)
[ -x "$PG_BIN/postgres" ] || die "no postgres under /usr/lib/postgresql/*/bin"
command -v "${CARGO:-cargo}" >/dev/null ||
  die "${CARGO:-cargo} not found in PATH (under sudo, try: sudo env PATH=\"\$PATH\" make screenshots)"
${CARGO:-cargo} build --release

# The dev server runs as whoever asked for the screenshots, with the system's python3 (a
# python3 under root's home would not be theirs to run).
SYSTEM_PYTHON=/usr/bin/python3
[ -x "$SYSTEM_PYTHON" ] || SYSTEM_PYTHON=$(command -v python3)
DEV_USER=nobody
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && id -u "$SUDO_USER" >/dev/null 2>&1; then
  DEV_USER=$SUDO_USER
fi

work=$(mktemp -d /tmp/psshot.XXXXXX)
chmod 711 "$work" # the daemons' own users reach their subdirectories
netns_made=false
run_sshd_made=false

# Every process in the namespace: TERM, up to 5 s, then KILL.
stop_namespace() {
  $netns_made || return 0
  local pids
  pids=$(ip netns pids "$NETNS" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 50); do
      pids=$(ip netns pids "$NETNS" 2>/dev/null || true)
      [ -n "$pids" ] || break
      sleep 0.1
    done
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  ip netns del "$NETNS" 2>/dev/null || true
  netns_made=false
}

cleanup() {
  set +e # every step, whatever the one before it did
  if [ -n "${SCREENSHOTS_KEEP:-}" ]; then # a directory for the captures and pages, to debug
    mkdir -p "$SCREENSHOTS_KEEP" && cp "$work"/*.ansi "$work"/*.html "$SCREENSHOTS_KEEP"
  fi 2>/dev/null
  exec 2>/dev/null # (bash would say "Terminated" for each background job it started)
  tmux -L "$SOCKET" kill-server || true
  stop_namespace
  if $run_sshd_made; then rmdir /run/sshd 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

tm() { env -u NO_COLOR LANG=C.UTF-8 tmux -u -L "$SOCKET" -f "$work/tmux.conf" "$@"; }
inns() { ${BG_EXEC:-} ip netns exec "$NETNS" "$@"; }
# Runs a command in the namespace as user $1 (with that user's groups).
as() {
  local user=$1
  shift
  inns setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --inh-caps=-all "$@"
}
# Starts `inns …` or `as …` in the background as that very process ($! is its pid), with no
# shell waiting in between (which would report "Terminated" when it is stopped).
# Its working directory is / (as under an init system), or $BG_DIR.
bg() { (cd "${BG_DIR:-/}" && BG_EXEC=exec "$@") & }

# ---- the daemons -------------------------------------------------------------------------------

make_namespace() {
  if ip netns list | grep -qE "^$NETNS( |$)"; then
    if [ -n "$(ip netns pids "$NETNS")" ]; then
      die "netns $NETNS exists and has processes in it; is another 'make screenshots' running?" \
        "(if not: sudo sh -c 'kill \$(ip netns pids $NETNS); ip netns del $NETNS')"
    fi
    say "removing the leftover, empty netns $NETNS"
    ip netns del "$NETNS"
  fi
  ip netns add "$NETNS"
  netns_made=true
  ip -n "$NETNS" link set lo up
  # A veth pair with both ends inside (not every kernel has the dummy driver): eth0 gets the
  # address, its peer only brings the link up.
  ip -n "$NETNS" link add eth0 type veth peer name veth0
  ip -n "$NETNS" addr add "$LAN_ADDR/24" dev eth0
  ip -n "$NETNS" link set veth0 up
  ip -n "$NETNS" link set eth0 up
}

start_nginx() {
  local d=$work/nginx
  mkdir -p "$d/www/downloads" "$d/tmp"
  chown www-data: "$d/tmp"
  echo '<!doctype html><title>portscope</title><p>Hello from nginx.' >"$d/www/index.html"
  head -c 8M /dev/zero >"$d/www/downloads/image.iso"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
  cat >"$d/nginx.conf" <<EOF
user www-data;
worker_processes 2;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  server {
    listen 80 default_server;
    listen [::]:80 default_server;
    listen 443 ssl default_server;
    listen [::]:443 ssl default_server;
    ssl_certificate $d/cert.pem;
    ssl_certificate_key $d/key.pem;
    root $d/www;
    location /downloads/ { limit_rate 2k; }
  }
}
EOF
  bg inns nginx -c "$d/nginx.conf" >"$d/out.log" 2>&1
}

start_sshd() {
  local d=$work/sshd
  mkdir -p "$d"
  chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -C portscope-screenshots -f "$d/host_key"
  ssh-keygen -q -t ed25519 -N '' -C portscope-screenshots -f "$d/client_key"
  cp "$d/client_key.pub" "$d/authorized_keys"
  cat >"$d/sshd_config" <<EOF
Port 22
ListenAddress 0.0.0.0
ListenAddress ::
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF
  # sshd insists on its privilege-separation directory.
  if [ ! -d /run/sshd ]; then
    mkdir -m 755 /run/sshd
    run_sshd_made=true
  fi
  bg inns "$(command -v sshd)" -D -e -f "$d/sshd_config" >"$d/out.log" 2>&1
}

# dnsmasq runs as dnsmasq from the start, with only CAP_NET_BIND_SERVICE (as a hardened
# systemd unit would run it), rather than binding as root and switching: on machines whose
# pid 1 even root cannot inspect (some sandboxes), a root-made socket held by a non-root
# process is rightly shown as "may have more holders" (+?), which is not this picture's story.
start_dnsmasq() {
  local d=$work/dnsmasq
  mkdir -p "$d"
  chown dnsmasq "$d"
  bg inns setpriv --reuid=dnsmasq --regid="$(id -g dnsmasq)" --init-groups \
    --inh-caps=-all,+net_bind_service --ambient-caps=+net_bind_service \
    dnsmasq -k -C /dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1,"$LAN_ADDR" --pid-file= --local=/lan/ --domain=lan \
    --address=/router.lan/192.168.1.1 --log-facility="$d/dnsmasq.log" >"$d/out.log" 2>&1
}

start_postgres() {
  local d=$work/postgres
  mkdir -p "$d"
  chown postgres: "$d"
  (cd "$d" && as postgres "$PG_BIN/initdb" -D "$d/data" -U postgres --auth=trust --no-sync \
    --encoding=UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1) ||
    {
      cat "$d/initdb.log" >&2
      die "initdb failed"
    }
  bg as postgres "$PG_BIN/postgres" -D "$d/data" -c port=5432 \
    -c listen_addresses='127.0.0.1,::1' -c unix_socket_directories="$d" >"$d/out.log" 2>&1
}

start_redis() {
  local d=$work/redis
  mkdir -p "$d"
  chown redis: "$d"
  bg as redis redis-server --bind 127.0.0.1 -::1 --port 6379 --daemonize no --dir "$d" \
    --save '' --appendonly no --logfile "$d/redis.log"
}

# Starts a dev server in the background, as its user, in its directory ($! is its pid).
bg_dev() { BG_DIR=$work/dev bg as "$DEV_USER" "$@"; }

start_dev_server() {
  local d=$work/dev
  mkdir -p "$d"
  echo '<!doctype html><title>dev</title><p>Hello from the dev server.' >"$d/index.html"
  chmod -R a+rX "$d"
  bg_dev "$SYSTEM_PYTHON" -m http.server 3000 >"$work/dev.log" 2>&1
}

# Waits until every one of "proto port" is listening in the namespace (30 s at most).
wait_listening() {
  local missing proto port
  for _ in $(seq 300); do
    missing=()
    for want in "$@"; do
      read -r proto port <<<"$want"
      inns ss -Hln --"$proto" "sport = :$port" | grep -q . || missing+=("$want")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  for log in "$work"/*/out.log "$work"/*/*.log "$work"/*.log; do
    [ -s "$log" ] && { echo "== $log" >&2; tail -5 "$log" >&2; }
  done
  die "not listening after 30 s: ${missing[*]}"
}

# Clients that stay connected, so CONNS has numbers.
start_clients() {
  for _ in 1 2; do
    bg as nobody curl -s -k -o /dev/null "https://$LAN_ADDR/downloads/image.iso"
  done
  bg as nobody curl -s -o /dev/null http://127.0.0.1/downloads/image.iso
  for q in mail thumbnails webhooks; do
    bg as nobody redis-cli -h 127.0.0.1 -p 6379 BLPOP "queue:$q" 0 >/dev/null
  done
  for _ in 1 2; do
    bg as nobody env HOME=/nonexistent psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
      'select pg_sleep(3600)' >/dev/null 2>&1
  done
  bg inns ssh -N -T -n -i "$work/sshd/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1
  local want=9 # client ends: 3 nginx, 3 redis, 2 postgres, 1 ssh
  for _ in $(seq 300); do
    [ "$(inns ss -Htn state established | awk '$4 ~ /:(80|443|6379|5432|22)$/' | wc -l)" -ge $want ] &&
      return 0
    sleep 0.1
  done
  inns ss -Htn state established >&2
  die "the clients did not all connect"
}

# A second dev server on port $1 answers one request (HTTP/1.0: the server closes first) and is
# stopped: nothing listens on $1 any more, but its side of that connection sits in TIME_WAIT
# for a minute, so a plain bind of $1 still fails (the "restarted too soon" story).
make_time_wait() {
  local port=$1 pid
  bg_dev "$SYSTEM_PYTHON" -m http.server "$port" >"$work/dev-$port.log" 2>&1
  pid=$!
  wait_listening "tcp $port"
  # Read to the end (the server's FIN) before closing, so that the server's side is the one
  # that waits (curl would close as soon as it has Content-Length bytes, racing the server).
  inns bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\r\n\r\n" >&3 &&
    cat <&3 >/dev/null' - "$port"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    inns ss -Hltn "sport = :$port" | grep -q . || break
    sleep 0.1
  done
  inns ss -Htn state time-wait "sport = :$port" | grep -q . || die "no TIME_WAIT on port $port"
}

start_daemons() {
  make_namespace
  start_nginx
  start_sshd
  start_dnsmasq
  start_postgres
  start_redis
  start_dev_server
  wait_listening "tcp 80" "tcp 443" "tcp 22" "tcp 53" "udp 53" "tcp 5432" "tcp 6379" "tcp 3000"
  start_clients
  # nginx's two workers share its listeners.
  for _ in $(seq 100); do
    [ "$(ip netns pids "$NETNS" | xargs -r ps -o args= -p | grep -c '^nginx: worker')" -ge 2 ] &&
      return 0
    sleep 0.1
  done
  die "nginx did not start its two workers"
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

# Waits until the screen of session $1 no longer shows the extended regex $2 (10 s at most).
wait_gone() {
  for _ in $(seq 100); do
    tm capture-pane -t "$1" -p | grep -qE -- "$2" || return 0
    sleep 0.1
  done
  tm capture-pane -t "$1" -p >&2 || true
  die "session $1 still shows /$2/"
}

capture() { tm capture-pane -t "$1" -e -p -N >"$work/$2.ansi"; }

# The live view, its details pane on the nginx 0.0.0.0:80 row, and the help overlay.
shoot_tui() {
  # Every 2 s: on a machine busy with other work (thousands of processes to scan), a 1 s
  # refresh may cost more than portscope's CPU budget and the header would say "slowed to".
  tm new-session -d -s tui -x "$COLS" -y "$ROWS" "ip netns exec $NETNS $BIN --interval 2s"
  wait_for tui 'Registered 1024'
  sleep 4 # a couple of refreshes, so the screen has settled
  capture tui tui

  local esc=$'\e' selected
  # The selection bar: background 237 (reverse video without colour).
  selected="^(${esc}\[[0-9;]*m)*${esc}\[([0-9;]*;)?(48;5;237|7)(;[0-9;]*)?m(${esc}\[[0-9;]*m)*tcp +0\.0\.0\.0:80 "
  for _ in $(seq 60); do
    tm capture-pane -t tui -e -p | grep -qaE "$selected" && break
    tm send-keys -t tui j
    sleep 0.15
  done
  tm capture-pane -t tui -e -p | grep -qaE "$selected" || die "could not select the nginx :80 row"

  tm send-keys -t tui '?'
  wait_for tui 'Port ranges'
  sleep 0.3
  capture tui tui-help
  tm send-keys -t tui Escape
  wait_gone tui 'Port ranges'

  # The details of nginx's row (three holders, then the bind verdict, then the connections)
  # need a taller window than the table.
  tm resize-window -t tui -x "$COLS" -y "$DETAILS_ROWS"
  for _ in $(seq 100); do # redrawn at the new size: the key line is on the last row
    tm capture-pane -t tui -p | tail -1 | grep -q 'q quit' && break
    sleep 0.1
  done
  tm send-keys -t tui Enter
  wait_for tui '0\.0\.0\.0:80 · LISTEN'
  wait_for tui 'bind {6}'
  wait_gone tui 'checking what a new bind would meet'
  sleep 0.5
  capture tui tui-details
  tm send-keys -t tui q
  # The server exits with its last session: let it, before the next one starts a new one.
  for _ in $(seq 50); do
    tm has-session -t tui 2>/dev/null || break
    sleep 0.1
  done
  for _ in $(seq 50); do
    tm list-sessions >/dev/null 2>&1 || return 0
    sleep 0.1
  done
}

# Commands as typed at a prompt ("portscope ARGS", each run in the namespace), their whole
# output (scrollback included), and the next prompt. $COLS and $ROWS give the window size.
shoot_commands() {
  local name=$1 line
  shift
  : >"$work/$name.sh"
  for line in "$@"; do
    printf "printf '\$ %%s\\n' '%s'\nip netns exec %s %s %s\n" "$line" "$NETNS" "$BIN" \
      "${line#portscope }" >>"$work/$name.sh"
  done
  cat >>"$work/$name.sh" <<EOF
printf '\$ \n'
tmux -L $SOCKET wait-for -S $name-done
exec sleep 600
EOF
  tm new-session -d -s "$name" -x "$COLS" -y "$ROWS" "sh $work/$name.sh"
  timeout 30 env -u NO_COLOR tmux -L "$SOCKET" wait-for "$name-done" || die "$* did not finish"
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
start_daemons
say "daemons ready in netns $NETNS ($(ip netns pids "$NETNS" | wc -l) processes)"
shoot_tui
shoot_commands once "portscope --once"
shoot_commands query "portscope 80 6379"
make_time_wait 8000
COLS=$BIND_COLS shoot_commands bind "portscope 8000" "portscope 8000 --bind --reuseaddr"
tm kill-server 2>/dev/null || true

render tui "portscope" --rows "$ROWS"
render tui-details "portscope: details" --rows "$DETAILS_ROWS"
render tui-help "portscope: help" --rows "$ROWS"
render once "portscope --once"
render query "portscope 80 6379"
COLS=$BIND_COLS render bind "portscope 8000"
