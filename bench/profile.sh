#!/usr/bin/env bash
# bench/profile.sh — where the time goes on the paths whose targets
# docs/benchmarks.md records as missed. On loopback, the same Python app and
# the same number of processes side by side:
#
#   appserver   nginx -> stackctl's workers  vs  nginx -> uWSGI (unix sockets, hello)
#   flask       stackctl (proxy + workers)   vs  nginx -> uWSGI (unix socket, Flask)
#
# For each stack, one wrk run measures the CPU time every process group
# spent per request (user and system, from /proc), so the cost of each part
# (front end, Python workers) is seen beside the peer's. Then a second run
# under the profilers: cProfile in our workers (STACKCTL_PROFILE: the
# heaviest functions, per request) and, for the flask path, a Go CPU profile
# of stackctl serve (STACKCTL_CPUPROFILE, go tool pprof -top). The profiled
# run is slower; only its proportions count.
#
# Usage: bench/profile.sh [appserver|flask]...   (default both)
#   env: DURATION=6s CONNS=64 WORKERS=2
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-6s}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-2}
PATHS=${*:-appserver flask}
HZ=$(getconf CLK_TCK)

bench_setup
write_hello_app "$BENCH_DIR/app"
write_flask_app "$BENCH_DIR/app"
build_stackctl

# tree PID: PID and all its descendants.
tree() {
  local p=$1 c
  echo "$p"
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
}
# ticks PID...: utime and stime summed, in clock ticks.
ticks() {
  local p u=0 s=0 f
  for p in "$@"; do
    f=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null) || continue
    set -- $f
    u=$((u + ${12})); s=$((s + ${13}))
  done
  echo "$u $s"
}

# cost LABEL URL GROUP=PIDS...: one wrk run; CPU µs per request per group.
cost() {
  local label=$1 url=$2; shift 2
  local g names=() pids=() before=() out reqs i
  for g in "$@"; do names+=("${g%%=*}"); pids+=("${g#*=}"); done
  for i in "${!names[@]}"; do before[$i]=$(ticks ${pids[$i]}); done
  out=$(run_wrk_full "$url")
  reqs=$(echo "$out" | awk -v d="${DURATION%s}" '{printf "%d", $1 * d}')
  printf "%-28s %9.0f req/s  p99 %6.2f ms" "$label" "$(echo "$out" | awk '{print $1}')" "$(echo "$out" | awk '{print $3}')"
  for i in "${!names[@]}"; do
    read -r u1 s1 <<<"$(ticks ${pids[$i]})"
    read -r u0 s0 <<<"${before[$i]}"
    awk -v n="${names[$i]}" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v r="$reqs" -v hz="$HZ" \
      'BEGIN { printf "   %s %.1f µs (user %.1f, sys %.1f)", n, (u + s) * 1e6 / hz / r, u * 1e6 / hz / r, s * 1e6 / hz / r }'
  done
  echo
}

# pystats PREFIX N: the heaviest functions of the workers' cProfile dumps,
# in µs per request (N requests).
pystats() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import glob, pstats, sys
prefix, n = sys.argv[1], float(sys.argv[2])
files = glob.glob(prefix + ".*")
if not files:
    print("  (no profile written)")
    sys.exit()
st = pstats.Stats(*files)
rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:18]
print("  %10s %10s  %s" % ("tottime µs", "cumtime µs", "function (per request; the profiler inflates both)"))
for (f, line, name), (cc, nc, tt, ct, callers) in rows:
    print("  %10.2f %10.2f  %s:%d %s" % (tt * 1e6 / n, ct * 1e6 / n, f.split("/")[-1], line, name))
EOF
}

uwsgi_start() { # NAME MODULE
  start_bg "uwsgi-$1" uwsgi --plugin python3 --master --die-on-term --processes "$WORKERS" \
    --socket "$BENCH_DIR/uwsgi-$1.sock" --chmod-socket=666 --chdir "$BENCH_DIR/app" --module "$2" --disable-logging
  UWSGI_PID=${BENCH_PIDS[-1]}
  wait_unix "$BENCH_DIR/uwsgi-$1.sock"
}
# stackctl_start NAME MODULE PROXY_PORT|"" [ENV...]: stackctl serve on its
# own socket, with a proxy route when a port is given.
stackctl_start() {
  local name=$1 mod=$2 port=$3; shift 3
  {
    echo "run_dir = \"$BENCH_DIR/run-$name\""
    if [ -n "$port" ]; then
      printf '[proxy]\nlisten = ["127.0.0.1:%s"]\naccess_log = "off"\n[[proxy.route]]\npath = "/"\nupstream = "app"\n' "$port"
    fi
    printf '[[app]]\nname = "app"\nmodule = "%s"\nchdir = "%s"\npython = "/usr/bin/python3"\nworkers = %s\n' "$mod" "$BENCH_DIR/app" "$WORKERS"
    printf 'socket = "unix:%s"\nsocket_mode = "0666"\n' "$BENCH_DIR/stackctl-$name.sock"
  } >"$BENCH_DIR/stackctl-$name.toml"
  env "$@" "$STACKCTL" serve -c "$BENCH_DIR/stackctl-$name.toml" >"$BENCH_DIR/stackctl-$name.log" 2>&1 &
  STACKCTL_PID=$!
  BENCH_PIDS+=("$STACKCTL_PID")
  wait_unix "$BENCH_DIR/stackctl-$name.sock"
  [ -z "$port" ] || wait_tcp "$port"
}
# stop PID: a graceful stop, waited for (profiles are written on exit).
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
workers_of() { tree "$1" | tail -n +2 | tr '\n' ' '; }

echo "# bench/profile.sh: $(date -u +%FT%TZ), $(nproc) cores, wrk -t2 -c$CONNS -d$DURATION, $WORKERS Python processes per stack"
echo "# CPU per request from /proc (utime+stime of each group over the run / requests)"

for path in $PATHS; do
  case $path in
  appserver)
    echo
    echo "## nginx (1 worker) -> app server over a unix socket, hello app"
    uwsgi_start hello hello
    stackctl_start hello hello:application ""
    PORT_A=$(free_port); PORT_B=$(free_port)
    start_nginx 1 "
    server { listen 127.0.0.1:$PORT_A; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/stackctl-hello.sock; } }
    server { listen 127.0.0.1:$PORT_B; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/uwsgi-hello.sock; } }"
    NGINX_PID=${BENCH_PIDS[-1]}
    wait_tcp "$PORT_A"; wait_tcp "$PORT_B"
    check_body "http://127.0.0.1:$PORT_A/" "Hello, World!"
    nginx_all=$(tree "$NGINX_PID" | tr '\n' ' ')
    keep=$DURATION; DURATION=2s; run_wrk "http://127.0.0.1:$PORT_A/" >/dev/null; run_wrk "http://127.0.0.1:$PORT_B/" >/dev/null; DURATION=$keep
    for round in 1 2; do
      cost "nginx -> stackctl workers" "http://127.0.0.1:$PORT_A/" "nginx=$nginx_all" "workers=$(workers_of "$STACKCTL_PID")" "master=$STACKCTL_PID"
      cost "nginx -> uWSGI" "http://127.0.0.1:$PORT_B/" "nginx=$nginx_all" "workers=$(workers_of "$UWSGI_PID")" "master=$UWSGI_PID"
    done
    echo
    echo "## cProfile of stackctl's workers under the same load (STACKCTL_PROFILE)"
    stop "$STACKCTL_PID"
    stackctl_start hello hello:application "" STACKCTL_PROFILE="$BENCH_DIR/prof-hello"
    out=$(run_wrk_full "http://127.0.0.1:$PORT_A/")
    n=$(echo "$out" | awk -v d="${DURATION%s}" '{printf "%d", $1 * d}')
    stop "$STACKCTL_PID"
    echo "# $n requests under the profiler ($(echo "$out" | awk '{printf "%.0f", $1}') req/s)"
    pystats "$BENCH_DIR/prof-hello" "$n"
    stop "$NGINX_PID"; stop "$UWSGI_PID"
    ;;
  flask)
    echo
    echo "## the full stack, Flask app: stackctl vs nginx (1 worker) -> uWSGI over a unix socket"
    uwsgi_start flask flaskapp:app
    PORT_S=$(free_port); PORT_B=$(free_port)
    stackctl_start flask flaskapp:app "$PORT_S"
    start_nginx 1 "
    server { listen 127.0.0.1:$PORT_B; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/uwsgi-flask.sock; } }"
    NGINX_PID=${BENCH_PIDS[-1]}
    wait_tcp "$PORT_B"
    check_body "http://127.0.0.1:$PORT_S/" "Hello, World!"
    nginx_all=$(tree "$NGINX_PID" | tr '\n' ' ')
    keep=$DURATION; DURATION=2s; run_wrk "http://127.0.0.1:$PORT_S/" >/dev/null; run_wrk "http://127.0.0.1:$PORT_B/" >/dev/null; DURATION=$keep
    for round in 1 2; do
      cost "stackctl (proxy+workers)" "http://127.0.0.1:$PORT_S/" "proxy=$STACKCTL_PID" "workers=$(workers_of "$STACKCTL_PID")"
      cost "nginx -> uWSGI" "http://127.0.0.1:$PORT_B/" "nginx=$nginx_all" "workers=$(workers_of "$UWSGI_PID")" "master=$UWSGI_PID"
    done
    echo
    echo "## Go CPU profile of stackctl serve and cProfile of its workers under the same load"
    stop "$STACKCTL_PID"
    stackctl_start flask flaskapp:app "$PORT_S" STACKCTL_CPUPROFILE="$BENCH_DIR/cpu.pprof" STACKCTL_PROFILE="$BENCH_DIR/prof-flask"
    out=$(run_wrk_full "http://127.0.0.1:$PORT_S/")
    n=$(echo "$out" | awk -v d="${DURATION%s}" '{printf "%d", $1 * d}')
    stop "$STACKCTL_PID"
    echo "# $n requests under the profilers ($(echo "$out" | awk '{printf "%.0f", $1}') req/s)"
    go tool pprof -top -nodecount=30 "$STACKCTL" "$BENCH_DIR/cpu.pprof" 2>/dev/null | sed -n '4,40p'
    echo
    pystats "$BENCH_DIR/prof-flask" "$n"
    stop "$NGINX_PID"; stop "$UWSGI_PID"
    ;;
  *) echo "unknown path $path (appserver, flask)" >&2; exit 2 ;;
  esac
done
