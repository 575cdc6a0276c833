#!/usr/bin/env bash
# bench/apache.sh — Apache beside nginx and stackctl, side by side in one run
# on loopback (issue 8; the seed document's claims about nginx and Apache):
#
#   stackctl         stackctl serve: [proxy] static route + its own workers
#   nginx            worker_processes auto, sendfile, uwsgi_pass (unix socket)
#   apache-event     Apache 2.4 mpm_event, tuned for 5,000 connections
#   apache-prefork   Apache 2.4 mpm_prefork, Debian's shipped process limits
#
# Rows (ROWS, each KIND:CONNECTIONS):
#   s13 s64k s1m  static files of 13 B, 64 KiB, 1 MiB (/static/...)
#   app           the hello app: stackctl's own 2 workers; nginx and both
#                 Apaches -> uWSGI (2 processes, unix socket; Apache via
#                 mod_proxy_uwsgi)
#   slow          a slow backend: the app sleeps SLOW_MS per request, served
#                 by SLOW_WORKERS x SLOW_THREADS (stackctl's own workers; the
#                 others -> uWSGI with the same processes and threads)
# For each row: a warm-up per stack, ROUNDS rounds (the order of the stacks
# rotates each round), medians of req/s, p50, p99; errors summed over the
# rounds (non-2xx, socket connect/read/write, wrk timeouts); the peak number of
# front-end processes and threads; the peak summed RSS and a mid-run PSS of the
# processes serving the row (the front end, plus the app server for app and
# slow rows). Then a summary with ratios, and a scripted config-reload check
# (apache2 -t / nginx -t / stackctl check and what a reload does with a
# broken file).
#
# Usage: bench/apache.sh
#   env: ROUNDS=5 DURATION=6s WARMUP=2s WRK_TIMEOUT=2s SWEEP="100 1000 5000"
#        KINDS="s13 s64k s1m app" SLOW_SWEEP="100 1000 5000" ROWS=(derived)
#        STACKS="stackctl nginx apache-event apache-prefork" RELOAD_CHECK=1
#        SLOW_MS=100 SLOW_WORKERS=4 SLOW_THREADS=250
#        EVENT_SERVERS=80 EVENT_THREADS=64 (MaxRequestWorkers = product)
#        PREFORK_MAX=150 (Debian's mpm_prefork.conf) KEEPALIVE_REQUESTS=100000
#        BACKLOG=4096 (capped at net.core.somaxconn)
# A quick check that it all works: ROUNDS=1 DURATION=1s WARMUP=1s SWEEP="20 50" SLOW_SWEEP="20"
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/apache-lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6s}
WARMUP=${WARMUP:-2s}
SWEEP=${SWEEP-"100 1000 5000"}
KINDS=${KINDS-"s13 s64k s1m app"}
SLOW_SWEEP=${SLOW_SWEEP-"100 1000 5000"}
STACKS=${STACKS:-"stackctl nginx apache-event apache-prefork"}
RELOAD_CHECK=${RELOAD_CHECK:-1}
SLOW_MS=${SLOW_MS:-100}
SLOW_WORKERS=${SLOW_WORKERS:-4}
SLOW_THREADS=${SLOW_THREADS:-250}
EVENT_SERVERS=${EVENT_SERVERS:-80}
EVENT_THREADS=${EVENT_THREADS:-64}
PREFORK_MAX=${PREFORK_MAX:-150}
KEEPALIVE_REQUESTS=${KEEPALIVE_REQUESTS:-100000}
WORKERS=2
if [ -z "${ROWS:-}" ]; then
  ROWS=""
  for c in $SWEEP; do for k in $KINDS; do ROWS+=" $k:$c"; done; done
  for c in $SLOW_SWEEP; do ROWS+=" slow:$c"; done
fi
SOMAXCONN=$(cat /proc/sys/net/core/somaxconn)
BACKLOG=${BACKLOG:-4096}
[ "$BACKLOG" -gt "$SOMAXCONN" ] && BACKLOG=$SOMAXCONN

export PATH=$PATH:/usr/sbin
command -v apache2 >/dev/null || { echo "missing apache2 (.ci/run installs the peers)" >&2; exit 1; }
[ -f /usr/lib/apache2/modules/mod_proxy_uwsgi.so ] || { echo "missing mod_proxy_uwsgi (apt-get install apache2)" >&2; exit 1; }

# File descriptors: wrk and every front end hold one per connection (and
# nginx one more per upstream request).
maxc=0
for row in $ROWS; do c=${row#*:}; [ "$c" -gt "$maxc" ] && maxc=$c; done
need=$((2 * maxc + 1024))
[ "$(ulimit -Sn)" -lt "$need" ] && ulimit -Sn "$(ulimit -Hn)"
[ "$(ulimit -Sn)" -ge "$need" ] || { echo "ulimit -n is $(ulimit -Sn) (hard $(ulimit -Hn)); $need needed for $maxc connections" >&2; exit 1; }

bench_setup
write_hello_app "$BENCH_DIR/app"
cat >"$BENCH_DIR/app/slow.py" <<EOF
import time

def application(environ, start_response):
    time.sleep($SLOW_MS / 1000.0)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, World!']
EOF
chmod -R a+rX "$BENCH_DIR/app"
mkdir -p "$BENCH_DIR/public"
printf 'Hello, World!' >"$BENCH_DIR/public/13b.txt"
head -c 65536 /dev/urandom >"$BENCH_DIR/public/64k.bin"
head -c 1048576 /dev/urandom >"$BENCH_DIR/public/1m.bin"
chmod -R a+rX "$BENCH_DIR/public"
build_stackctl

want_slow=0; case " $ROWS " in *" slow:"*) want_slow=1 ;; esac

# The app servers behind nginx and Apache: uWSGI over unix sockets, the
# backlog raised from uWSGI's 100 (the classic source of 502s) to $BACKLOG.
start_bg uwsgi uwsgi --plugin python3 --master --die-on-term --processes $WORKERS --listen "$BACKLOG" \
  --socket "$BENCH_DIR/uwsgi.sock" --chmod-socket=666 --chdir "$BENCH_DIR/app" --module hello --disable-logging
UWSGI_PID=${BENCH_PIDS[-1]}
UWSGI_SLOW_PID=
if [ $want_slow = 1 ]; then
  start_bg uwsgi-slow uwsgi --plugin python3 --master --die-on-term --processes "$SLOW_WORKERS" --threads "$SLOW_THREADS" \
    --listen "$BACKLOG" --socket "$BENCH_DIR/uwsgi-slow.sock" --chmod-socket=666 --chdir "$BENCH_DIR/app" --module slow --disable-logging
  UWSGI_SLOW_PID=${BENCH_PIDS[-1]}
fi

declare -A PORT
for s in stackctl nginx apache-event apache-prefork; do PORT[$s]=$(free_port); done

# stackctl: one process, a static route and two apps.
slow_app=""
[ $want_slow = 1 ] && slow_app="
[[proxy.route]]
path = \"/slow/\"
upstream = \"slow\"

[[app]]
name = \"slow\"
module = \"slow:application\"
chdir = \"$BENCH_DIR/app\"
python = \"/usr/bin/python3\"
workers = $SLOW_WORKERS
threads = $SLOW_THREADS"
cat >"$BENCH_DIR/stackctl.toml" <<EOF
run_dir = "$BENCH_DIR/run"

[proxy]
listen = ["127.0.0.1:${PORT[stackctl]}"]
access_log = "off"

[[proxy.route]]
path = "/static/"
static = "$BENCH_DIR/public"

[[proxy.route]]
path = "/app/"
upstream = "hello"

[[app]]
name = "hello"
module = "hello:application"
chdir = "$BENCH_DIR/app"
python = "/usr/bin/python3"
workers = $WORKERS
$slow_app
EOF
start_bg stackctl "$STACKCTL" serve -c "$BENCH_DIR/stackctl.toml"
STACKCTL_PID=${BENCH_PIDS[-1]}

wait_unix "$BENCH_DIR/uwsgi.sock"
[ $want_slow = 1 ] && wait_unix "$BENCH_DIR/uwsgi-slow.sock"
slow_loc=""
[ $want_slow = 1 ] && slow_loc="location /slow/ { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/uwsgi-slow.sock; }"
start_nginx auto "
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:${PORT[nginx]} backlog=$BACKLOG;
        location /static/ { alias $BENCH_DIR/public/; }
        location /app/ { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$BENCH_DIR/uwsgi.sock; }
        $slow_loc
    }"
NGINX_PID=${BENCH_PIDS[-1]}

# Apache: the same site for both MPMs. Keep-alive as nginx has it here
# (keepalive_requests 100000, timeout 75 s); sendfile on as nginx; no access log.
apache_site() {
  local slow=""
  [ $want_slow = 1 ] && slow="ProxyPass /slow/ unix:$BENCH_DIR/uwsgi-slow.sock|uwsgi://slow/"
  cat <<EOF
ListenBacklog $BACKLOG
KeepAlive On
MaxKeepAliveRequests $KEEPALIVE_REQUESTS
KeepAliveTimeout 75
EnableSendfile On
Alias /static/ $BENCH_DIR/public/
<Directory $BENCH_DIR/public>
    Require all granted
</Directory>
ProxyPass /app/ unix:$BENCH_DIR/uwsgi.sock|uwsgi://hello/
$slow
EOF
}
start_apache apache-event event "${PORT[apache-event]}" "$(apache_site)
StartServers 2
ServerLimit $EVENT_SERVERS
ThreadLimit $EVENT_THREADS
ThreadsPerChild $EVENT_THREADS
MaxRequestWorkers $((EVENT_SERVERS * EVENT_THREADS))
MinSpareThreads $EVENT_THREADS
MaxSpareThreads $((EVENT_SERVERS * EVENT_THREADS))
MaxConnectionsPerChild 0"
prefork_limit=""
[ "$PREFORK_MAX" -gt 256 ] && prefork_limit="ServerLimit $PREFORK_MAX"
start_apache apache-prefork prefork "${PORT[apache-prefork]}" "$(apache_site)
$prefork_limit
StartServers 5
MinSpareServers 5
MaxSpareServers 10
MaxRequestWorkers $PREFORK_MAX
MaxConnectionsPerChild 0"

for s in stackctl nginx apache-event apache-prefork; do wait_tcp "${PORT[$s]}"; done
apache_check_pid apache-event; apache_check_pid apache-prefork
for s in $STACKS; do
  b="http://127.0.0.1:${PORT[$s]}"
  check_body "$b/static/13b.txt" "Hello, World!"
  check_body "$b/app/" "Hello, World!"
  [ $want_slow = 1 ] && check_body "$b/slow/" "Hello, World!"
done

# The processes serving each (stack, row kind); see sample_once.
app_workers() { # APP: stackctl's worker PIDs of that app
  local p
  for p in $(cat /proc/"$STACKCTL_PID"/task/*/children 2>/dev/null); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "STACKCTL_APP=$1"; then echo "$p"; fi
  done | tr '\n' ' '
}
HELLO_WORKERS=$(app_workers hello)
SLOW_WORKER_PIDS=""
if [ $want_slow = 1 ]; then
  for _ in $(seq 100); do
    SLOW_WORKER_PIDS=$(app_workers slow)
    [ "$(echo $SLOW_WORKER_PIDS | wc -w)" -ge "$SLOW_WORKERS" ] && break
    sleep 0.1
  done
fi
set_sample_target() { # STACK KIND
  S_FRONT_TREE=""; S_FRONT_ONLY=""; S_BACK_TREE=""; S_BACK_ONLY=""
  case $1 in
    stackctl) S_FRONT_ONLY=$STACKCTL_PID ;;
    nginx) S_FRONT_TREE=$NGINX_PID ;;
    apache-*) S_FRONT_TREE=${APACHE_PID[$1]} ;;
  esac
  case $2:$1 in
    app:stackctl) S_BACK_ONLY=$HELLO_WORKERS ;;
    slow:stackctl) S_BACK_ONLY=$SLOW_WORKER_PIDS ;;
    app:*) S_BACK_TREE=$UWSGI_PID ;;
    slow:*) S_BACK_TREE=$UWSGI_SLOW_PID ;;
  esac
}
url_of() { # STACK KIND
  local b="http://127.0.0.1:${PORT[$1]}"
  case $2 in
    s13) echo "$b/static/13b.txt" ;; s64k) echo "$b/static/64k.bin" ;; s1m) echo "$b/static/1m.bin" ;;
    app) echo "$b/app/" ;; slow) echo "$b/slow/" ;;
  esac
}
label_of() {
  case $1 in
    s13) echo "static 13 B" ;; s64k) echo "static 64 KiB" ;; s1m) echo "static 1 MiB" ;;
    app) echo "app (hello)" ;; slow) echo "slow app (${SLOW_MS} ms)" ;;
  esac
}

nrows=$(echo $ROWS | wc -w); nstacks=$(echo $STACKS | wc -w)
est=$(( nrows * nstacks * (ROUNDS * ($(seconds_of "$DURATION") + 2) + $(seconds_of "$WARMUP") + 1) + 60 ))
echo "# bench/apache.sh: stackctl vs nginx vs Apache event vs Apache prefork, one run on loopback"
echo "# $(date -u +%FT%TZ), $(nproc) cores, $(go version | awk '{print $3}'); nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(apache2 -v | sed -n 's/Server version: //p'), uWSGI $(uwsgi --version)"
echo "# wrk -t2 -cN -d$DURATION --timeout ${WRK_TIMEOUT:-2s} --latency; warm-up $WARMUP per stack and row; $ROUNDS rounds, stack order rotating; medians; errors summed over rounds"
echo "# static and app: $WORKERS Python processes (stackctl's workers / uWSGI --processes $WORKERS); slow: $SLOW_WORKERS x $SLOW_THREADS threads, $SLOW_MS ms per request"
echo "# nginx: worker_processes auto, sendfile, keepalive_requests 100000, listen backlog=$BACKLOG; uWSGI --listen $BACKLOG"
echo "# apache-event: ServerLimit $EVENT_SERVERS x ThreadsPerChild $EVENT_THREADS = MaxRequestWorkers $((EVENT_SERVERS * EVENT_THREADS)), spare threads kept"
echo "# apache-prefork: StartServers 5, MinSpareServers 5, MaxSpareServers 10, MaxRequestWorkers $PREFORK_MAX (Debian's mpm_prefork.conf)"
echo "# both Apaches: KeepAlive On, MaxKeepAliveRequests $KEEPALIVE_REQUESTS, KeepAliveTimeout 75, EnableSendfile On, ListenBacklog $BACKLOG, no access log"
echo "# ulimit -n $(ulimit -Sn), net.core.somaxconn $SOMAXCONN; about $((est / 60)) min"
echo "# procs/threads: peak of the front end alone; RSS: peak of VmRSS summed over the front end (+ the app server for app/slow rows; stackctl: serve + that app's workers)"
echo "# PSS: the same processes half-way through a run (shared pages divided among the processes sharing them)"
echo "# s/x: stackctl's req/s over this stack's (> 1: stackctl ahead); p99 s/x: stackctl's p99 over this stack's (< 1: stackctl ahead)"
echo "# non2xx conn read write timeout: wrk's counts summed over rounds (wrk counts a timeout only for a response that arrives late;"
echo "#   a connection never served counts nothing, so:) probes ok: new clients that got a 200 (curl, one request on a fresh"
echo "#   connection every ${PROBE_EVERY:-0.25} s during each run, ${PROBE_TIMEOUT:-2} s limit); probe ms: their median time"

SUMMARY="$BENCH_DIR/summary.txt"; : >"$SUMMARY"; SUMMARY2="$BENCH_DIR/summary2.txt"; : >"$SUMMARY2"
dur_ms=$(millis_of "$DURATION")
for row in $ROWS; do
  kind=${row%%:*}; conns=${row#*:}
  echo
  echo "## $(label_of "$kind"), $conns connections"
  for s in $STACKS; do
    wrk_errs "$(url_of "$s" "$kind")" "$conns" "$WARMUP" >/dev/null
    sleep 1
    : >"$BENCH_DIR/res-$s"; : >"$BENCH_DIR/mem-$s"; : >"$BENCH_DIR/probes-$s"
  done
  for r in $(seq "$ROUNDS"); do
    # Rotate the order: round r starts at stack (r-1) mod n.
    order=$(echo $STACKS | tr ' ' '\n' | awk -v r="$r" -v n="$nstacks" '{a[NR]=$0} END {for (i=0;i<n;i++) print a[(r-1+i)%n+1]}')
    for s in $order; do
      set_sample_target "$s" "$kind"
      smp="$BENCH_DIR/sample-$s-$r"; : >"$smp"
      prb="$BENCH_DIR/probe-$s-$r"; : >"$prb"
      sampler "$smp" "$dur_ms" &
      spid=$!
      prober "$prb" "$(url_of "$s" "$kind")" "$dur_ms" &
      prpid=$!
      wrk_errs "$(url_of "$s" "$kind")" "$conns" "$DURATION" >>"$BENCH_DIR/res-$s"
      kill "$spid" "$prpid" 2>/dev/null || true; wait "$spid" "$prpid" 2>/dev/null || true
      sampler_summary "$smp" >>"$BENCH_DIR/mem-$s"
      cat "$prb" >>"$BENCH_DIR/probes-$s"
      sleep 1
    done
  done
  printf "%-15s %9s %7s %7s %8s %8s %7s %6s %6s %6s %7s %9s %8s %6s %7s %8s %8s\n" \
    stack "req/s" "s/x" "p50 ms" "p99 ms" "p99 s/x" non2xx conn read write timeout "probes ok" "probe ms" procs threads "RSS MiB" "PSS MiB"
  s_rps=0; s_p99=0
  if [ -s "$BENCH_DIR/res-stackctl" ]; then
    s_rps=$(cut -d' ' -f1 "$BENCH_DIR/res-stackctl" | median); s_p99=$(cut -d' ' -f3 "$BENCH_DIR/res-stackctl" | median)
  fi
  line="$(printf '%-22s %6s' "$(label_of "$kind")" "$conns")"
  for s in $STACKS; do
    f="$BENCH_DIR/res-$s"; m="$BENCH_DIR/mem-$s"
    rps=$(cut -d' ' -f1 "$f" | median); p50=$(cut -d' ' -f2 "$f" | median); p99=$(cut -d' ' -f3 "$f" | median)
    read -r n2 cn rd wr to < <(awk '{a+=$4; b+=$5; c+=$6; d+=$7; e+=$8} END {print a+0, b+0, c+0, d+0, e+0}' "$f")
    procs=$(awk '$1 > m {m = $1} END {print m + 0}' "$m"); thr=$(awk '$2 > m {m = $2} END {print m + 0}' "$m")
    rss=$(cut -d' ' -f3 "$m" | median); pss=$(cut -d' ' -f4 "$m" | median)
    read -r pok pn pms < <(prober_summary "$BENCH_DIR/probes-$s")
    awk -v s="$s" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v sr="${s_rps:-0}" -v sp="${s_p99:-0}" \
        -v n2="$n2" -v cn="$cn" -v rd="$rd" -v wr="$wr" -v to="$to" -v pok="$pok" -v pn="$pn" -v pms="$pms" \
        -v pr="$procs" -v th="$thr" -v rss="$rss" -v pss="$pss" 'BEGIN {
      printf "%-15s %9.0f %6.2fx %7.2f %8.2f %7.2fx %7d %6d %6d %6d %7d %9s %8.1f %6d %7d %8.0f %8.0f\n",
        s, rps, (rps > 0 ? sr / rps : 0), p50, p99, (p99 > 0 ? sp / p99 : 0), n2, cn, rd, wr, to, pok "/" pn, pms, pr, th, rss / 1024, pss / 1024 }'
    echo "$s $rps $p99 $((n2 + cn + rd + wr + to)) $((pn - pok)) $pn $procs $((rss / 1024))" >>"$BENCH_DIR/row-$row"
  done
  # Summary line: req/s of each stack, then stackctl's ratio to each peer and
  # the nginx/Apache ratios the seed's claim is about.
  awk -v label="$(label_of "$kind")" -v conns="$conns" '
    { name[NR] = $1; rps[$1] = $2; p99[$1] = $3; bad[$1] = $4 + $5 }
    END {
      printf "%-22s %6s", label, conns
      for (i = 1; i <= NR; i++) printf " %15.0f", rps[name[i]]
      ahead_r = "yes"; ahead_p = "yes"; ahead_e = "yes"
      for (i = 1; i <= NR; i++) if (name[i] != "stackctl") {
        printf " %6.2fx", (rps[name[i]] > 0 ? rps["stackctl"] / rps[name[i]] : 0)
        if (rps["stackctl"] <= rps[name[i]]) ahead_r = "no"
        # A stack that refused service (errors, timeouts, failed probes)
        # reports the p99 of the requests it did serve only: it loses on p99
        # to a stackctl that refused none.
        if (p99[name[i]] > 0 && p99["stackctl"] >= p99[name[i]] && !(bad["stackctl"] == 0 && bad[name[i]] > 0)) ahead_p = "no"
        if (bad["stackctl"] > bad[name[i]]) ahead_e = "no"
      }
      ne = (rps["apache-event"] > 0 ? rps["nginx"] / rps["apache-event"] : 0)
      np = (rps["apache-prefork"] > 0 ? rps["nginx"] / rps["apache-prefork"] : 0)
      printf " %6.2fx %6.2fx   %s/%s/%s\n", ne, np, ahead_r, ahead_p, ahead_e
    }' "$BENCH_DIR/row-$row" >>"$SUMMARY"
  awk -v label="$(label_of "$kind")" -v conns="$conns" '
    { e[NR] = sprintf("%d/%d/%d", $4, $5, $6); pr[NR] = $7; rss[NR] = $8 }
    END {
      printf "%-22s %6s", label, conns
      for (i = 1; i <= NR; i++) printf " %15s", e[i]
      for (i = 1; i <= NR; i++) printf " %7d", pr[i]
      for (i = 1; i <= NR; i++) printf " %7d", rss[i]
      printf "\n"
    }' "$BENCH_DIR/row-$row" >>"$SUMMARY2"
done

short() { case $1 in apache-event) echo event ;; apache-prefork) echo prefork ;; *) echo "$1" ;; esac; }
echo
echo "## summary: median req/s; stackctl's req/s over each peer's; nginx's over Apache event and prefork (the seed's '3x');"
echo "## whether stackctl is ahead of all three in req/s, in p99 (a peer that refused service while stackctl refused none"
echo "## loses on p99: its p99 covers only the requests it served) and in refused service (no more errors+failed probes)"
printf "%-22s %6s" scenario conns
for s in $STACKS; do printf " %15s" "$s"; done
for s in $STACKS; do [ "$s" = stackctl ] || printf " %7s" "s/$(short "$s")"; done
printf " %7s %7s   %s\n" "n/event" "n/pref" "ahead req/s,p99,errors"
cat "$SUMMARY"
echo
echo "## summary: refused or failed service (wrk errors+timeouts summed over rounds / failed new-connection probes / probes),"
echo "## peak front-end processes, peak RSS MiB"
printf "%-22s %6s" scenario conns
for s in $STACKS; do printf " %15s" "$(short "$s") err/pf/p"; done
for s in $STACKS; do printf " %7s" "$(short "$s" | cut -c1-7)"; done
for s in $STACKS; do printf " %7s" "$(short "$s" | cut -c1-7)"; done
printf "\n"
cat "$SUMMARY2"

# Apache's own word on the sweep (e.g. AH00484 "server reached
# MaxRequestWorkers setting"): each message code, how often, its first line.
echo
for a in apache-event apache-prefork; do
  echo "# $a error.log (startup and shutdown notices left out):"
  { grep -v "AH00489\|AH00094\|AH00491\|AH00492\|AH00169\|AH00558" "$BENCH_DIR/$a/error.log" 2>/dev/null || true; } |
    awk '{ c = "other"; for (i = 1; i <= NF; i++) if ($i ~ /^AH[0-9]+:?$/) { c = $i; break } sub(/:$/, "", c); n[c]++; k++; if (!(c in first)) first[c] = $0 }
         END { for (c in n) printf "#   %5d x %s  first: %s\n", n[c], c, substr(first[c], 1, 160); if (k == 0) print "#   (nothing)" }'
done
n=$(grep -c "Resource temporarily unavailable" "$BENCH_DIR/nginx/error.log" 2>/dev/null || true)
echo "# nginx error.log: ${n:-0} upstream connect failures (EAGAIN: uWSGI's listen queue full)"

if [ "$RELOAD_CHECK" = 1 ]; then
  echo
  echo "## config test and reload with a broken file"
  reload_check
fi
