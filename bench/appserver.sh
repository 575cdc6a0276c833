#!/usr/bin/env bash
# bench/appserver.sh — the app-server race: one nginx in front of
#   (a) stackctl's app server (stackctl serve, N workers)
#   (b) uWSGI 2.0 (--master --processes N)
# both on unix sockets (the strongest peer setup), the same hello-world app,
# side by side in one run, rounds alternating, wrk on loopback.
# Prints req/s and p99 per round, the medians, and the ratio (a)/(b).
#
# Usage: bench/appserver.sh            (env: ROUNDS=5 DURATION=6s CONNS=64 WORKERS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6s}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-2}

bench_setup
write_hello_app "$BENCH_DIR/app"
build_stackctl

cat >"$BENCH_DIR/stackctl.toml" <<EOF
run_dir = "$BENCH_DIR/run"
[[app]]
name = "hello"
module = "hello:application"
chdir = "$BENCH_DIR/app"
python = "/usr/bin/python3"
workers = $WORKERS
socket = "unix:$BENCH_DIR/stackctl.sock"
socket_mode = "0666"
EOF
start_bg stackctl "$STACKCTL" serve -c "$BENCH_DIR/stackctl.toml"
start_bg uwsgi uwsgi --plugin python3 --master --die-on-term --processes "$WORKERS" \
  --socket "$BENCH_DIR/uwsgi.sock" --chmod-socket=666 --chdir "$BENCH_DIR/app" --module hello --disable-logging
wait_unix "$BENCH_DIR/stackctl.sock"
wait_unix "$BENCH_DIR/uwsgi.sock"

PORT_A=$(free_port); PORT_B=$(free_port)
start_nginx 1 "
    server { listen 127.0.0.1:$PORT_A; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/stackctl.sock; } }
    server { listen 127.0.0.1:$PORT_B; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/uwsgi.sock; } }"
wait_tcp "$PORT_A"; wait_tcp "$PORT_B"
check_body "http://127.0.0.1:$PORT_A/" "Hello, World!"
check_body "http://127.0.0.1:$PORT_B/" "Hello, World!"

echo "# nginx (1 worker) -> app server over a unix socket, $WORKERS Python processes each, hello app"
echo "# wrk -t2 -c$CONNS -d$DURATION --latency, $ROUNDS rounds alternating; $(date -u +%FT%TZ) on $(nproc) cores"
race "stackctl" "http://127.0.0.1:$PORT_A/" "uwsgi" "http://127.0.0.1:$PORT_B/"
