#!/usr/bin/env bash
# bench/proxy.sh — stackctl's proxy side by side with nginx, in one run:
#   static files (13 B, 64 KiB, 1 MiB)          proxy static route  vs nginx (alias, sendfile)
#   in front of 2 uWSGI processes (unix socket)  proxy uwsgi://     vs nginx uwsgi_pass
#   the full stack                               proxy -> our own workers over lanes
#                                                                   vs nginx -> uWSGI (unix)
#   memory held by 10,000 idle keep-alive connections (RSS delta / connection)
# wrk on loopback (wrk -t2 -c$CONNS -d$DURATION --latency), a warm-up, rounds
# alternating, medians; a table of ratios at the end. nginx runs
# worker_processes auto, access_log off; the proxy runs access_log = "off".
#
# The proxy is started by bench/cmd/proxyd: the same proxy and [[app]]s as
# `stackctl serve` from the same config file, without the control socket and
# stats, and with a CPU profile switched on and off by SIGUSR2.
#
# Usage: bench/proxy.sh   (env: ROUNDS=5 DURATION=6s CONNS=64 IDLE=10000
#                          SCENARIOS="s13 s64k s1m uwsgi lanes idle" PROFILE=1)
# PROFILE=1 adds a CPU profile of the proxy for each throughput scenario
# (go tool pprof -top, the 25 heaviest functions). SYSCALLS=1 adds the
# system calls per request of the proxy and of nginx's workers, counted by
# perf stat's syscall tracepoints over one wrk run each (needs perf).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6s}
CONNS=${CONNS:-64}
IDLE=${IDLE:-10000}
SCENARIOS=${SCENARIOS:-"s13 s64k s1m uwsgi lanes idle"}
PROFILE=${PROFILE:-0}
SYSCALLS=${SYSCALLS:-0}

bench_setup
write_hello_app "$BENCH_DIR/app"
mkdir -p "$BENCH_DIR/public"
printf 'Hello, World!' >"$BENCH_DIR/public/13b.txt"
head -c 65536 /dev/urandom >"$BENCH_DIR/public/64k.bin"
head -c 1048576 /dev/urandom >"$BENCH_DIR/public/1m.bin"
chmod -R a+rX "$BENCH_DIR/public"
go build -o "$BENCH_DIR/proxyd" ./bench/cmd/proxyd
go build -o "$BENCH_DIR/idleconns" ./bench/cmd/idleconns

start_bg uwsgi uwsgi --plugin python3 --master --die-on-term --processes 2 \
  --socket "$BENCH_DIR/uwsgi.sock" --chmod-socket=666 --chdir "$BENCH_DIR/app" --module hello --disable-logging
wait_unix "$BENCH_DIR/uwsgi.sock"

PORT_S=$(free_port); PORT_N=$(free_port)
cat >"$BENCH_DIR/stackctl.toml" <<EOF
run_dir = "$BENCH_DIR/run"
[proxy]
listen = ["127.0.0.1:$PORT_S"]
access_log = "off"

[[proxy.route]]
path = "/static/"
static = "$BENCH_DIR/public"

[[proxy.route]]
path = "/uwsgi/"
upstream = "uw"

[[proxy.route]]
path = "/app/"
upstream = "hello"

[[upstream]]
name = "uw"
servers = ["uwsgi://unix:$BENCH_DIR/uwsgi.sock"]

[[app]]
name = "hello"
module = "hello:application"
chdir = "$BENCH_DIR/app"
python = "/usr/bin/python3"
workers = 2
EOF
start_bg proxyd "$BENCH_DIR/proxyd" -config "$BENCH_DIR/stackctl.toml" -cpuprofile "$BENCH_DIR/cpu.pprof"
PROXYD_PID=${BENCH_PIDS[-1]}
start_nginx auto "
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$PORT_N;
        location /static/ { alias $BENCH_DIR/public/; }
        location /uwsgi/ { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/uwsgi.sock; }
    }"
NGINX_PID=${BENCH_PIDS[-1]}
wait_tcp "$PORT_S"; wait_tcp "$PORT_N"
S="http://127.0.0.1:$PORT_S"; N="http://127.0.0.1:$PORT_N"
for base in "$S" "$N"; do
  check_body "$base/static/13b.txt" "Hello, World!"
  check_body "$base/uwsgi/" "Hello, World!"
done
check_body "$S/app/" "Hello, World!"

echo "# stackctl proxy vs nginx $(nginx -v 2>&1 | sed 's/.*\///'), wrk -t2 -c$CONNS -d$DURATION --latency, $ROUNDS rounds alternating"
echo "# $(date -u +%FT%TZ) on $(nproc) cores, $(go version | awk '{print $3}')"
SUMMARY="$BENCH_DIR/summary.txt"
: >"$SUMMARY"

profile() { # NAME URL: a CPU profile of the proxy under one wrk run
  [ "$PROFILE" = 1 ] || return 0
  kill -USR2 "$PROXYD_PID"
  wrk -t2 -c"$CONNS" -d"$DURATION" "$2" >/dev/null 2>&1
  kill -USR2 "$PROXYD_PID"
  sleep 1
  echo "## CPU profile of the proxy: $1"
  go tool pprof -top -nodecount=25 "$BENCH_DIR/proxyd" "$BENCH_DIR/cpu.pprof" 2>/dev/null | sed -n '1,32p'
}

syscalls() { # LABEL URL_STACKCTL URL_NGINX: system calls per request of each
  [ "$SYSCALLS" = 1 ] || return 0
  local ev="" name url pids reqs
  for name in read recvfrom write writev sendmsg sendfile64 connect socket close openat newfstat statx \
    setsockopt getsockopt epoll_ctl epoll_wait epoll_pwait futex nanosleep sched_yield; do
    ev="$ev -e syscalls:sys_enter_$name"
  done
  echo "## system calls per request: $1"
  for name in stackctl nginx; do
    if [ $name = stackctl ]; then url=$2; pids=$PROXYD_PID; else url=$3; pids=$(pgrep -d, -P "$NGINX_PID"); fi
    perf stat $ev -p "$pids" -o "$BENCH_DIR/perf.out" -- sleep "${DURATION%s}" &
    local pp=$!
    wrk -t2 -c"$CONNS" -d"$DURATION" "$url" >"$BENCH_DIR/wrk.out" 2>&1
    wait $pp
    reqs=$(awk '/requests in/ {print $1}' "$BENCH_DIR/wrk.out")
    awk -v r="$reqs" -v n=$name '/syscalls:sys_enter_/ {gsub(",", "", $1); if ($1 > 0) {sub("syscalls:sys_enter_", "", $2); line = line sprintf(" %s %.2f", $2, $1/r); t += $1}}
      END {printf "%-9s %6.2f per request:%s\n", n, t/r, line}' "$BENCH_DIR/perf.out"
  done
}

scenario() { # KEY LABEL URL_STACKCTL URL_NGINX TARGET
  local key=$1 label=$2 us=$3 un=$4 target=$5 out
  echo
  echo "## $label"
  out=$(race "stackctl" "$us" "nginx" "$un")
  echo "$out"
  local ra rb
  ra=$(echo "$out" | awk '$1=="stackctl" {print $2}' | tail -1)
  rb=$(echo "$out" | awk '$1=="nginx" {print $2}' | tail -1)
  awk -v l="$label" -v a="$ra" -v b="$rb" -v t="$target" \
    'BEGIN {printf "%-44s %12.0f %12.0f %7.2fx %8s\n", l, a, b, a/b, t}' >>"$SUMMARY"
  profile "$label" "$us"
  syscalls "$label" "$us" "$un"
}

rss_kib() { # PID...: the sum of VmRSS in KiB
  local pid sum=0 v
  for pid in "$@"; do
    v=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

idle_rss() { # LABEL PORT GCPID PIDS...: RSS growth per idle keep-alive connection
  # (12 s after the last connection: stackctl's HTTP engine returns a
  # burst's memory to the OS after 2 s without requests, at most every 10 s,
  # and the throughput scenarios just before were bursts; and for the proxy
  # also after a forced GC: SIGWINCH to proxyd; GCPID is "-" for nginx)
  local label=$1 port=$2 gcpid=$3; shift 3
  local before after gc=0 ready
  before=$(rss_kib "$@")
  "$BENCH_DIR/idleconns" -addr "127.0.0.1:$port" -n "$IDLE" -path /static/13b.txt >"$BENCH_DIR/idle.out" 2>&1 &
  local ic=$!
  for _ in $(seq 600); do grep -q ready "$BENCH_DIR/idle.out" 2>/dev/null && break; sleep 0.1; done
  sleep 12
  ready=$(awk '/ready/ {print $2}' "$BENCH_DIR/idle.out")
  after=$(rss_kib "$@")
  if [ "$gcpid" != - ]; then
    kill -WINCH "$gcpid"; sleep 1
    gc=$(rss_kib "$@")
  fi
  kill -INT "$ic" 2>/dev/null || true
  wait "$ic" 2>/dev/null || true
  sleep 2
  awk -v l="$label" -v b="$before" -v a="$after" -v g="$gc" -v n="${ready:-0}" 'BEGIN {
    printf "%-10s %6d idle connections: RSS %6.1f -> %6.1f MiB, %5.2f KiB per connection", l, n, b/1024, a/1024, (n>0 ? (a-b)/n : 0)
    if (g > 0) printf "; after a GC %6.1f MiB, %5.2f KiB per connection", g/1024, (n>0 ? (g-b)/n : 0)
    printf "\n" }'
}

for sc in $SCENARIOS; do
  case $sc in
    s13) scenario s13 "static 13 B" "$S/static/13b.txt" "$N/static/13b.txt" ">=1.0x" ;;
    s64k) scenario s64k "static 64 KiB" "$S/static/64k.bin" "$N/static/64k.bin" ">=1.0x" ;;
    s1m) scenario s1m "static 1 MiB" "$S/static/1m.bin" "$N/static/1m.bin" ">=1.0x" ;;
    uwsgi) scenario uwsgi "-> 2 uWSGI processes (uwsgi, unix socket)" "$S/uwsgi/" "$N/uwsgi/" ">=1.0x" ;;
    lanes) scenario lanes "full stack: own 2 workers (lanes) vs nginx->uWSGI" "$S/app/" "$N/uwsgi/" "" ;;
    idle)
      echo
      echo "## $IDLE idle keep-alive connections"
      nginx_pids=$(cat /proc/"$NGINX_PID"/task/"$NGINX_PID"/children 2>/dev/null || true)
      a=$(idle_rss stackctl "$PORT_S" "$PROXYD_PID" "$PROXYD_PID")
      b=$(idle_rss nginx "$PORT_N" - "$NGINX_PID" $nginx_pids)
      echo "$a"; echo "$b"
      echo "$a" | awk -F'[ ,]+' '{for (i=1;i<=NF;i++) if ($i=="KiB") v[++k]=$(i-1)} END {printf "%-44s %25s %8s\n", "idle conn RSS KiB/conn: stackctl (after GC)", v[1] " (" v[2] ")", "<=4 KiB"}' >>"$SUMMARY"
      echo "$b" | awk -F'[ ,]+' '{for (i=1;i<=NF;i++) if ($i=="KiB") v[++k]=$(i-1)} END {printf "%-44s %25s\n", "idle conn RSS KiB/conn: nginx", v[1]}' >>"$SUMMARY"
      ;;
  esac
done

echo
echo "## summary (medians)"
printf "%-44s %12s %12s %8s %8s\n" scenario "stackctl/s" "nginx/s" ratio target
cat "$SUMMARY"
