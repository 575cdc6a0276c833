# bench/lib.sh — shared by the bench/*.sh scripts: a private directory, the
# peers started from private configs on loopback, wrk runs, medians and
# ratios. Every process started here is stopped by PID on exit.

BENCH_PIDS=()

bench_setup() {
  for tool in wrk nginx uwsgi /usr/bin/python3 go; do
    command -v "$tool" >/dev/null || { echo "missing $tool (.ci/run installs the peers)" >&2; exit 1; }
  done
  BENCH_DIR=$(mktemp -d /tmp/stackctl-bench.XXXXXX)
  chmod 755 "$BENCH_DIR"
  trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${BENCH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$BENCH_DIR"
}

# start_bg NAME CMD... runs CMD in the background, output to $BENCH_DIR/NAME.log.
start_bg() {
  local name=$1; shift
  "$@" >"$BENCH_DIR/$name.log" 2>&1 &
  BENCH_PIDS+=($!)
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_tcp() {
  local i
  for i in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listening on 127.0.0.1:$1" >&2; tail -n 20 "$BENCH_DIR"/*.log >&2; exit 1
}

wait_unix() {
  local i
  for i in $(seq 300); do
    [ -S "$1" ] && return 0
    sleep 0.05
  done
  echo "no socket at $1" >&2; tail -n 20 "$BENCH_DIR"/*.log >&2; exit 1
}

check_body() {
  local got
  got=$(curl -s --max-time 5 "$1" || true)
  [ "$got" = "$2" ] || { echo "unexpected answer from $1: $got" >&2; tail -n 20 "$BENCH_DIR"/*.log >&2; exit 1; }
}

write_hello_app() {
  mkdir -p "$1"
  cat >"$1/hello.py" <<'EOF'
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, World!']
EOF
  chmod -R a+rX "$1"
}

# write_flask_app DIR: the same answer as the hello app, through Flask
# (module flaskapp:app; Debian's python3-flask under /usr/bin/python3).
write_flask_app() {
  mkdir -p "$1"
  cat >"$1/flaskapp.py" <<'EOF'
from flask import Flask
app = Flask(__name__)

@app.route("/")
def hello():
    return "Hello, World!"
EOF
  chmod -R a+rX "$1"
}

build_stackctl() {
  STACKCTL="$BENCH_DIR/stackctl"
  go build ${BENCH_GOFLAGS:-} -o "$STACKCTL" ./cmd/stackctl
}

# start_nginx WORKERS HTTP_BLOCK runs nginx from a private config.
start_nginx() {
  local workers=$1 block=$2 d="$BENCH_DIR/nginx"
  mkdir -p "$d"
  cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes $workers;
user root;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 16384; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fcgi;
    uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
$block
}
EOF
  start_bg nginx nginx -c "$d/nginx.conf" -p "$d"
}

# wrk_out URL runs wrk once and prints its output (kept in wrk.log too).
wrk_out() {
  local out
  out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$1" 2>&1)
  echo "$out" >>"$BENCH_DIR/wrk.log"
  echo "$out"
}

# wrk_parse reads wrk output on stdin and prints "REQS P50MS P99MS ERRORS".
wrk_parse() {
  awk '
    function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v } if (v ~ /s$/) { sub(/s/, "", v); return v * 1000 } return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx|Socket errors/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { gsub(",", "", $i); errs += $i } }
    END { printf "%s %s %s %d\n", rps + 0, p50 + 0, p99 + 0, errs }'
}

# run_wrk URL prints "REQS P99MS ERRORS" for one wrk run.
run_wrk() { wrk_out "$1" | wrk_parse | awk '{print $1, $3, $4}'; }

# run_wrk_full URL prints "REQS P50MS P99MS ERRORS".
run_wrk_full() { wrk_out "$1" | wrk_parse; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# race NAME_A URL_A NAME_B URL_B: warm-up, ROUNDS alternating rounds, table.
race() {
  local na=$1 ua=$2 nb=$3 ub=$4 r a b
  local keep=$DURATION
  DURATION=2s; run_wrk "$ua" >/dev/null; run_wrk "$ub" >/dev/null; DURATION=$keep
  : >"$BENCH_DIR/a.txt"; : >"$BENCH_DIR/b.txt"
  printf "%-6s %-10s %12s %10s %8s\n" round target "req/s" "p99 ms" errors
  for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then
      a=$(run_wrk "$ua"); b=$(run_wrk "$ub")
    else
      b=$(run_wrk "$ub"); a=$(run_wrk "$ua")
    fi
    echo "$a" >>"$BENCH_DIR/a.txt"; echo "$b" >>"$BENCH_DIR/b.txt"
    printf "%-6s %-10s %12s %10s %8s\n" "$r" "$na" $a
    printf "%-6s %-10s %12s %10s %8s\n" "$r" "$nb" $b
  done
  local ra pa rb pb
  ra=$(cut -d' ' -f1 "$BENCH_DIR/a.txt" | median); pa=$(cut -d' ' -f2 "$BENCH_DIR/a.txt" | median)
  rb=$(cut -d' ' -f1 "$BENCH_DIR/b.txt" | median); pb=$(cut -d' ' -f2 "$BENCH_DIR/b.txt" | median)
  echo
  printf "%-10s %12s %10s\n" median "req/s" "p99 ms"
  printf "%-10s %12s %10s\n" "$na" "$ra" "$pa"
  printf "%-10s %12s %10s\n" "$nb" "$rb" "$pb"
  awk -v a="$ra" -v b="$rb" -v pa="$pa" -v pb="$pb" -v na="$na" -v nb="$nb" \
    'BEGIN {printf "ratio %s/%s: req/s %.2fx, p99 %.2fx\n", na, nb, a/b, (pb>0 ? pa/pb : 0)}'
}
