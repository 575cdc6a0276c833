#!/usr/bin/env bash
# bench/stack.sh — the full-stack race, side by side in one run on loopback:
#   (a) stackctl            (proxy + app server, 2 workers)
#   (b) nginx -> uWSGI      (2 processes, uwsgi_pass over a unix socket)
#   (c) nginx -> gunicorn   (2 sync workers, proxy_pass)
#   (d) gunicorn alone      (2 sync workers)
# for the same hello-world WSGI app and the same Flask app. wrk with fixed
# threads/connections/duration, rounds alternating the order, medians; prints
# req/s, p50, p99 and the ratio to (b), and the RSS of each stack at rest and
# under load. Targets: stackctl >= 1.25x nginx + uWSGI req/s, p99 <= 0.8x.
#
# Usage: bench/stack.sh    (env: ROUNDS=5 DURATION=6s CONNS=64 APPS="hello flask")
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6s}
CONNS=${CONNS:-64}
APPS=${APPS:-"hello flask"}
WORKERS=2

bench_setup
/usr/bin/python3 -c 'import flask, gunicorn' 2>/dev/null || { echo "missing python3-flask or gunicorn" >&2; exit 1; }
write_hello_app "$BENCH_DIR/app"
write_flask_app "$BENCH_DIR/app"
build_stackctl

# One port per (stack, app).
declare -A PORT
for s in stackctl uwsgi gunicorn_nginx gunicorn; do
  for a in $APPS; do PORT[$s-$a]=$(free_port); done
done
module() { [ "$1" = hello ] && echo "hello:application" || echo "flaskapp:app"; }

# (a) stackctl: one stack per app, so each measures alone.
for a in $APPS; do
  cat >"$BENCH_DIR/stackctl-$a.toml" <<EOF
run_dir = "$BENCH_DIR/run-$a"
[proxy]
listen = ["127.0.0.1:${PORT[stackctl-$a]}"]
access_log = "off"
[[proxy.route]]
path = "/"
upstream = "$a"
[[app]]
name = "$a"
module = "$(module $a)"
chdir = "$BENCH_DIR/app"
python = "/usr/bin/python3"
workers = $WORKERS
EOF
  start_bg "stackctl-$a" "$STACKCTL" serve -c "$BENCH_DIR/stackctl-$a.toml"
done
# (b) uWSGI and (c)/(d) gunicorn.
for a in $APPS; do
  start_bg "uwsgi-$a" uwsgi --plugin python3 --master --die-on-term --processes $WORKERS \
    --socket "$BENCH_DIR/uwsgi-$a.sock" --chmod-socket=666 --chdir "$BENCH_DIR/app" --module "$(module $a)" --disable-logging
  start_bg "gunicorn-$a" /usr/bin/python3 -m gunicorn -w $WORKERS -b "127.0.0.1:${PORT[gunicorn-$a]}" \
    --chdir "$BENCH_DIR/app" "$(module $a)"
done
servers=""
for a in $APPS; do
  wait_unix "$BENCH_DIR/uwsgi-$a.sock"
  servers+="
    server { listen 127.0.0.1:${PORT[uwsgi-$a]}; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/uwsgi-$a.sock; } }
    upstream gunicorn_$a { server 127.0.0.1:${PORT[gunicorn-$a]}; keepalive 32; }
    server { listen 127.0.0.1:${PORT[gunicorn_nginx-$a]}; location / { proxy_pass http://gunicorn_$a; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
done
start_nginx 1 "$servers"
for a in $APPS; do
  for s in stackctl uwsgi gunicorn_nginx gunicorn; do wait_tcp "${PORT[$s-$a]}"; done
  for s in stackctl uwsgi gunicorn_nginx gunicorn; do check_body "http://127.0.0.1:${PORT[$s-$a]}/" "Hello, World!"; done
done

# rss_of PATTERN...: total RSS (KiB) of the processes whose command line
# matches any pattern, children included.
rss_of() {
  local total=0 p
  for p in $(pgrep -f "$1"); do
    total=$((total + $(awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)))
  done
  echo $total
}
nginx_rss() { rss_of "nginx: .*$BENCH_DIR/nginx|nginx: worker"; }
stack_rss() { # STACK APP
  case $1 in
    stackctl) rss_of "$BENCH_DIR/stackctl-$2.toml|$BENCH_DIR/run-$2/stackctl_worker" ;;
    uwsgi) echo $(( $(rss_of "uwsgi-$2.sock") + $(nginx_rss) )) ;;
    gunicorn_nginx) echo $(( $(rss_of "gunicorn.*${PORT[gunicorn-$2]}") + $(nginx_rss) )) ;;
    gunicorn) rss_of "gunicorn.*${PORT[gunicorn-$2]}" ;;
  esac
}

echo "# bench/stack.sh: $WORKERS Python processes per stack, wrk -t2 -c$CONNS -d$DURATION --latency, $ROUNDS rounds alternating"
echo "# $(date -u +%FT%TZ), $(nproc) cores; nginx $(nginx -v 2>&1 | sed 's/.*\///'), uWSGI $(uwsgi --version), gunicorn $(/usr/bin/python3 -m gunicorn --version 2>&1 | awk '{print $3}' | tr -d ')')"
STACKS="stackctl uwsgi gunicorn_nginx gunicorn"
for a in $APPS; do
  echo
  echo "## app: $a"
  # Warm-up.
  keep=$DURATION; DURATION=2s
  for s in $STACKS; do run_wrk "http://127.0.0.1:${PORT[$s-$a]}/" >/dev/null; done
  DURATION=$keep
  declare -A rest load
  for s in $STACKS; do rest[$s]=$(stack_rss $s $a); : >"$BENCH_DIR/$s-$a.txt"; done
  for r in $(seq "$ROUNDS"); do
    order=$STACKS
    [ $((r % 2)) -eq 0 ] && order=$(echo $STACKS | tr ' ' '\n' | tac | tr '\n' ' ')
    for s in $order; do
      run_wrk_full "http://127.0.0.1:${PORT[$s-$a]}/" >>"$BENCH_DIR/$s-$a.txt" &
      wpid=$!
      sleep 2
      load[$s]=$(stack_rss $s $a)
      wait $wpid
    done
  done
  printf "%-16s %10s %8s %8s %8s %10s %10s %11s\n" stack "req/s" "p50 ms" "p99 ms" errors "vs uwsgi" "RSS rest" "RSS load"
  base=$(cut -d' ' -f1 "$BENCH_DIR/uwsgi-$a.txt" | median)
  basep99=$(cut -d' ' -f3 "$BENCH_DIR/uwsgi-$a.txt" | median)
  for s in $STACKS; do
    f="$BENCH_DIR/$s-$a.txt"
    rps=$(cut -d' ' -f1 "$f" | median); p50=$(cut -d' ' -f2 "$f" | median); p99=$(cut -d' ' -f3 "$f" | median)
    errs=$(cut -d' ' -f4 "$f" | awk '{s+=$1} END {print s+0}')
    printf "%-16s %10.0f %8.2f %8.2f %8d %9.2fx %8dMiB %9dMiB\n" "$s" "$rps" "$p50" "$p99" "$errs" \
      "$(awk -v a="$rps" -v b="$base" 'BEGIN {print a/b}')" $((rest[$s] / 1024)) $((load[$s] / 1024))
  done
  awk -v a="$(cut -d' ' -f1 "$BENCH_DIR/stackctl-$a.txt" | median)" -v b="$base" \
      -v pa="$(cut -d' ' -f3 "$BENCH_DIR/stackctl-$a.txt" | median)" -v pb="$basep99" \
    'BEGIN {printf "stackctl vs nginx+uWSGI: req/s %.2fx (target >= 1.25x), p99 %.2fx (target <= 0.8x)\n", a/b, pa/pb}'
done
