# bench/apache-lib.sh — helpers for bench/apache.sh (sourced after bench/lib.sh):
# Apache from a private config, wrk with the error kinds kept apart, a
# sampler of the processes, threads and memory of a stack under load, and the
# config-reload check (apache2 -t / nginx -t / stackctl check, then a reload
# with a broken file).

# start_apache NAME MPM PORT DIRECTIVES: Apache 2.4 from $BENCH_DIR/NAME/httpd.conf
# (ServerRoot, PidFile, ErrorLog, Mutex in that directory; modules by
# LoadModule; children as www-data), in a session of its own (setsid: on
# shutdown Apache signals its whole process group). Sets APACHE_PID[NAME].
declare -gA APACHE_PID
APACHE_MODULES=${APACHE_MODULES:-"authz_core mime alias proxy proxy_uwsgi"}
start_apache() {
  local name=$1 mpm=$2 port=$3 directives=$4 d="$BENCH_DIR/$1" m
  mkdir -p "$d"
  {
    echo "ServerRoot $d"
    echo "PidFile $d/httpd.pid"
    echo "ErrorLog $d/error.log"
    echo "LogLevel warn"
    echo "Mutex file:$d default"
    echo "DefaultRuntimeDir $d"
    echo "User www-data"
    echo "Group www-data"
    echo "ServerName localhost"
    echo "Listen 127.0.0.1:$port"
    echo "LoadModule mpm_${mpm}_module /usr/lib/apache2/modules/mod_mpm_${mpm}.so"
    for m in $APACHE_MODULES; do echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so"; done
    echo "TypesConfig /etc/mime.types"
    echo "$directives"
  } >"$d/httpd.conf"
  apache2 -t -f "$d/httpd.conf" >"$d/configtest.log" 2>&1 || { cat "$d/configtest.log" "$d/httpd.conf" >&2; exit 1; }
  start_bg "$name" setsid apache2 -f "$d/httpd.conf" -DFOREGROUND
  APACHE_PID[$name]=${BENCH_PIDS[-1]}
}

# apache_check_pid NAME: the PID we hold is Apache's parent (setsid exec'd it).
apache_check_pid() {
  local i
  for i in $(seq 100); do [ -s "$BENCH_DIR/$1/httpd.pid" ] && break; sleep 0.05; done
  [ "$(cat "$BENCH_DIR/$1/httpd.pid" 2>/dev/null)" = "${APACHE_PID[$1]}" ] || {
    echo "$1: pid file $(cat "$BENCH_DIR/$1/httpd.pid" 2>/dev/null) != started pid ${APACHE_PID[$1]}" >&2; exit 1; }
}

# wrk_errs URL CONNS DURATION prints
#   "REQS P50MS P99MS NON2XX CONNECT READ WRITE TIMEOUT COMPLETED"
# for one run of wrk -t(min 2, CONNS) -cCONNS -dDURATION --timeout $WRK_TIMEOUT --latency.
wrk_errs() {
  local url=$1 c=$2 d=$3 t=2 out
  [ "$c" -lt 2 ] && t=1
  out=$(wrk -t"$t" -c"$c" -d"$d" --timeout "${WRK_TIMEOUT:-2s}" --latency "$url" 2>&1 || true)
  printf '### %s -c%s -d%s\n%s\n' "$url" "$c" "$d" "$out" >>"$BENCH_DIR/wrk.log"
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v } if (v ~ /m$/) { sub(/m/, "", v); return v * 60000 } if (v ~ /s$/) { sub(/s/, "", v); return v * 1000 } return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Socket errors/ { gsub(",", ""); conn = $4; rd = $6; wr = $8; to = $10 }
    /Non-2xx/ { n2 = $NF }
    / requests in / { done = $1 }
    END { printf "%s %s %s %d %d %d %d %d %d\n", rps + 0, p50 + 0, p99 + 0, n2, conn, rd, wr, to, done }'
}

# The sampler. A stack's processes are given as four lists of PIDs:
#   S_FRONT_TREE  front end, with all descendants (nginx master, Apache parent)
#   S_FRONT_ONLY  front end, that process alone (stackctl serve: its Python
#                 workers are not the front)
#   S_BACK_TREE   app server, with all descendants (a uWSGI master)
#   S_BACK_ONLY   app server, those processes alone (stackctl's workers of one app)
# Each sample is one `ps` read: "FRONT_PROCS FRONT_THREADS RSS_KIB PIDS..."
# (RSS of front and app server together; VmRSS summed, so pages shared by
# forked children are counted once per process).
sample_once() {
  ps -e -o pid=,ppid=,rss=,nlwp= | awk -v ft="$S_FRONT_TREE" -v fo="$S_FRONT_ONLY" -v bt="$S_BACK_TREE" -v bo="$S_BACK_ONLY" '
    { n++; pid[n] = $1; ppid[$1] = $2; rss[$1] = $3; nl[$1] = $4 }
    END {
      k = split(ft, a, " "); for (i = 1; i <= k; i++) root[a[i]] = "f"
      k = split(bt, a, " "); for (i = 1; i <= k; i++) root[a[i]] = "b"
      k = split(fo, a, " "); for (i = 1; i <= k; i++) only[a[i]] = "f"
      k = split(bo, a, " "); for (i = 1; i <= k; i++) only[a[i]] = "b"
      list = ""
      for (i = 1; i <= n; i++) {
        p = pid[i]; r = ""
        if (p in only) r = only[p]
        else { q = p; for (d = 0; d < 64 && q > 1; d++) { if (q in root) { r = root[q]; break } q = ppid[q] } }
        if (r == "") continue
        if (r == "f") { fp++; ft2 += nl[p] }
        rs += rss[p]; list = list " " p
      }
      printf "%d %d %d%s\n", fp, ft2, rs, list
    }'
}

# pss_kib PID...: the sum of Pss (KiB) from smaps_rollup: shared pages split
# between the processes that share them.
pss_kib() {
  local p
  for p in "$@"; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done | awk '/^Pss:/ { s += $2 } END { print s + 0 }'
}

# sampler OUT MILLISECONDS: a sample every $SAMPLE_EVERY s into OUT; one PSS
# reading ("pss KIB") half-way through a run of MILLISECONDS.
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
sampler() {
  local out=$1 half=$(( $2 / 2 )) start done_pss=0 line
  start=$(now_ms)
  while :; do
    line=$(sample_once)
    echo "$line" >>"$out"
    if [ $done_pss = 0 ] && [ $(( $(now_ms) - start)) -ge "$half" ]; then
      # shellcheck disable=SC2086
      echo "pss $(pss_kib ${line#* * * })" >>"$out"
      done_pss=1
    fi
    sleep "${SAMPLE_EVERY:-0.5}"
  done
}

# prober OUT URL RUN_MS: while a row runs, a new client every $PROBE_EVERY s: one
# request on a fresh connection (curl, --max-time $PROBE_TIMEOUT), one line
# "HTTP_CODE SECONDS" each (000 when refused or timed out). wrk cannot show
# refused service: it counts a timeout only for a response that does arrive
# late, so a connection the server never serves (a prefork server whose
# processes are all held by other keep-alive connections) counts nothing.
# No probe starts later than PROBE_TIMEOUT before the end of the run, so
# every probe runs under load (a run of DURATION <= PROBE_TIMEOUT has none).
prober() { # OUT URL RUN_MS: probes start only while they can end within the run
  local out=$1 url=$2 cpid= last
  last=$(( $(now_ms) + $3 - $(millis_of "${PROBE_TIMEOUT:-2}s") ))
  trap 'kill $cpid 2>/dev/null; exit 0' TERM
  while [ "$(now_ms)" -le "$last" ]; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time "${PROBE_TIMEOUT:-2}" "$url" >>"$out" 2>/dev/null &
    cpid=$!
    wait "$cpid" || true
    sleep "${PROBE_EVERY:-0.25}"
  done
}

# prober_summary OUT prints "OK TOTAL MEDIAN_MS" (the median over all probes,
# failed ones at the time they took).
prober_summary() {
  awk '{ n++; if ($1 == 200) ok++; t[n] = $2 * 1000 }
       END { if (n == 0) { print "0 0 0"; exit }
             for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
             m = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
             printf "%d %d %.1f\n", ok, n, m }' "$1"
}

# sampler_summary OUT prints "PEAK_FRONT_PROCS PEAK_FRONT_THREADS PEAK_RSS_KIB PSS_KIB".
sampler_summary() {
  awk '$1 == "pss" { pss = $2; next } { if ($1 > p) p = $1; if ($2 > t) t = $2; if ($3 > r) r = $3 }
       END { printf "%d %d %d %d\n", p, t, r, pss }' "$1"
}

# seconds_of DURATION ("6s", "1m", "500ms") in whole seconds, at least 1.
seconds_of() {
  awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /ms$/) v = v / 1000; else if (d ~ /m$/) v = v * 60; else if (d ~ /h$/) v = v * 3600; v = int(v + 0.999); if (v < 1) v = 1; print v }'
}

# millis_of DURATION in milliseconds.
millis_of() {
  awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /ms$/) v = v; else if (d ~ /m$/) v = v * 60000; else if (d ~ /h$/) v = v * 3600000; else v = v * 1000; print int(v) }'
}

# serving URL: "yes" if URL answers 200 within 2 s, else "no".
serving() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true)
  [ "$code" = 200 ] && echo yes || echo "no"
}

alive() { kill -0 "$1" 2>/dev/null && echo alive || echo exited; }

# ---------------------------------------------------------------------------
# The config-reload check: Apache (apache2 -t; apache2 -k graceful; SIGUSR1),
# nginx (nginx -t; nginx -s reload; SIGHUP) and stackctl (stackctl check;
# stackctl reload; SIGHUP), each serving /static/13b.txt, each given two broken
# files in turn:
#   typo   an unknown directive / key (a syntax error every test catches)
#   bind   a second listen address that another process holds (valid syntax;
#          only binding finds it)
# Prints one line per (server, case): what the test said, what the reload
# command said, and whether the server still serves after it (and after the
# raw signal a service manager or a script might send).
reload_check() {
  local d="$BENCH_DIR/reload" pub="$BENCH_DIR/public" held port_a port_n port_s hold_pid
  mkdir -p "$d"
  held=$(free_port)
  # A listener on $held stands for "another service already has this port".
  /usr/bin/python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(600)' "$held" &
  hold_pid=$!; BENCH_PIDS+=("$hold_pid")
  port_a=$(free_port); port_n=$(free_port); port_s=$(free_port)

  RC_ROWS=()
  # --- Apache (mpm_event) ---
  local ap_ok="Alias /static/ $pub/
<Directory $pub>
    Require all granted
</Directory>"
  local ac="$BENCH_DIR/reload-apache/httpd.conf" case extra apid
  for case in typo bind; do
    APACHE_MODULES="authz_core mime alias" start_apache reload-apache event "$port_a" "$ap_ok"
    apid=${APACHE_PID[reload-apache]}
    wait_tcp "$port_a"
    [ "$case" = typo ] && extra="KeepAliveTimeuot 5" || extra="Listen 127.0.0.1:$held"
    cp "$ac" "$ac.good"; echo "$extra" >>"$ac"
    rc_line apache "$case" "apache2 -t" apache2 -t -f "$ac"
    rc_reload apache "$case" "apache2 -k graceful" "http://127.0.0.1:$port_a/static/13b.txt" "$apid" apache2 -f "$ac" -k graceful
    if [ "$(alive "$apid")" = alive ]; then
      kill -USR1 "$apid"; sleep 2
      RC_ROWS+=("$(printf '%-9s %-5s %-34s %-5s %-8s %s' apache "$case" "kill -USR1 (graceful signal)" - "$(serving "http://127.0.0.1:$port_a/static/13b.txt")" "$(alive "$apid")")")
    fi
    kill -TERM "$apid" 2>/dev/null || true; wait "$apid" 2>/dev/null || true
    tail -n 3 "$BENCH_DIR/reload-apache/error.log" | sed 's/^/#   apache error.log: /' >>"$d/notes"
    rm -rf "$BENCH_DIR/reload-apache"
  done

  # --- nginx ---
  local nd="$d/nginx" npid
  mkdir -p "$nd"
  nginx_reload_conf() { # EXTRA
    cat >"$nd/nginx.conf" <<EOF
daemon off;
worker_processes 1;
user root;
pid $nd/nginx.pid;
error_log $nd/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $nd/body; proxy_temp_path $nd/proxy; fastcgi_temp_path $nd/fcgi;
    uwsgi_temp_path $nd/uwsgi; scgi_temp_path $nd/scgi;
    server { listen 127.0.0.1:$port_n; location /static/ { alias $pub/; } }
$1
}
EOF
  }
  nginx_reload_conf ""
  start_bg nginx-reload nginx -c "$nd/nginx.conf" -p "$nd"
  npid=${BENCH_PIDS[-1]}
  wait_tcp "$port_n"
  for case in typo bind; do
    [ "$case" = typo ] && nginx_reload_conf "    keepalive_timeuot 5;" || nginx_reload_conf "    server { listen 127.0.0.1:$held; }"
    rc_line nginx "$case" "nginx -t" nginx -t -c "$nd/nginx.conf" -p "$nd"
    rc_reload nginx "$case" "nginx -s reload" "http://127.0.0.1:$port_n/static/13b.txt" "$npid" nginx -c "$nd/nginx.conf" -p "$nd" -s reload
    kill -HUP "$npid"; sleep 2
    RC_ROWS+=("$(printf '%-9s %-5s %-34s %-5s %-8s %s' nginx "$case" "kill -HUP (reload signal)" - "$(serving "http://127.0.0.1:$port_n/static/13b.txt")" "$(alive "$npid")")")
    grep -h "emerg\|alert" "$nd/error.log" 2>/dev/null | tail -n 1 | sed "s|^|#   nginx $case error.log: |" >>"$d/notes" || true
    : >"$nd/error.log"
    nginx_reload_conf ""; kill -HUP "$npid"; sleep 1
  done
  kill -QUIT "$npid" 2>/dev/null || true; wait "$npid" 2>/dev/null || true

  # --- stackctl ---
  local sc="$d/stackctl.toml" spid
  stackctl_reload_conf() { # TOP_EXTRA LISTEN_EXTRA
    cat >"$sc" <<EOF
run_dir = "$d/run"
$1
[proxy]
listen = ["127.0.0.1:$port_s"$2]
access_log = "off"

[[proxy.route]]
path = "/static/"
static = "$pub"
EOF
  }
  stackctl_reload_conf "" ""
  start_bg stackctl-reload "$STACKCTL" serve -c "$sc"
  spid=${BENCH_PIDS[-1]}
  wait_tcp "$port_s"
  for case in typo bind; do
    [ "$case" = typo ] && stackctl_reload_conf 'wacth = true' "" || stackctl_reload_conf "" ", \"127.0.0.1:$held\""
    rc_line stackctl "$case" "stackctl check" "$STACKCTL" check -c "$sc"
    rc_reload stackctl "$case" "stackctl reload" "http://127.0.0.1:$port_s/static/13b.txt" "$spid" "$STACKCTL" reload -c "$sc"
    kill -HUP "$spid"; sleep 2
    RC_ROWS+=("$(printf '%-9s %-5s %-34s %-5s %-8s %s' stackctl "$case" "kill -HUP (reload signal)" - "$(serving "http://127.0.0.1:$port_s/static/13b.txt")" "$(alive "$spid")")")
    stackctl_reload_conf "" ""; "$STACKCTL" reload -c "$sc" >/dev/null 2>&1 || true
  done
  kill -TERM "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
  kill -TERM "$hold_pid" 2>/dev/null || true; wait "$hold_pid" 2>/dev/null || true

  echo "# typo = an unknown directive/key (KeepAliveTimeuot, keepalive_timeuot, wacth);"
  echo "# bind = an added listen address that another process already holds (127.0.0.1:$held)."
  echo "# 'serving' = GET /static/13b.txt answers 200 two seconds after the command."
  printf '%-9s %-5s %-34s %-5s %-8s %s\n' server case command exit serving process
  printf '%s\n' "${RC_ROWS[@]}"
  echo "# what each said:"
  cat "$d/notes"
}

# rc_line SERVER CASE LABEL CMD...: run a config test, record exit and message.
rc_line() {
  local srv=$1 cs=$2 label=$3 rc=0 msg; shift 3
  msg=$("$@" 2>&1) || rc=$?
  RC_ROWS+=("$(printf '%-9s %-5s %-34s %-5s %-8s %s' "$srv" "$cs" "$label" "$rc" - -)")
  { echo "$msg" | grep -v '^$' || echo "(no output)"; } | head -n 3 | sed "s|^|#   $srv $cs $label: |" >>"$BENCH_DIR/reload/notes"
}

# rc_reload SERVER CASE LABEL URL PID CMD...: run a reload command, then see
# whether the server still serves and its process still runs.
rc_reload() {
  local srv=$1 cs=$2 label=$3 url=$4 pid=$5 rc=0 msg; shift 5
  msg=$("$@" 2>&1) || rc=$?
  sleep 2
  RC_ROWS+=("$(printf '%-9s %-5s %-34s %-5s %-8s %s' "$srv" "$cs" "$label" "$rc" "$(serving "$url")" "$(alive "$pid")")")
  { echo "$msg" | grep -v '^$' || echo "(no output)"; } | head -n 3 | sed "s|^|#   $srv $cs $label: |" >>"$BENCH_DIR/reload/notes"
}
