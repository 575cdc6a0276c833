#!/usr/bin/env bash
# bench/console.sh — CPU of an idle `stackctl attach` on a stack of N workers
# (default 64) at the default refresh, measured from /proc over DURATION
# seconds. Target: < 3% of one core.
#
# Usage: bench/console.sh          (env: WORKERS=64 SECONDS_IDLE=20)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
WORKERS=${WORKERS:-64}
SECONDS_IDLE=${SECONDS_IDLE:-20}
command -v tmux >/dev/null || { echo "missing tmux" >&2; exit 1; }
bench_setup
write_hello_app "$BENCH_DIR/app"
build_stackctl
cat >"$BENCH_DIR/stackctl.toml" <<EOT
run_dir = "$BENCH_DIR/run"
[[app]]
name = "hello"
module = "hello:application"
chdir = "$BENCH_DIR/app"
python = "/usr/bin/python3"
workers = $WORKERS
socket = "unix:$BENCH_DIR/hello.sock"
EOT
start_bg stackctl "$STACKCTL" serve -c "$BENCH_DIR/stackctl.toml"
for i in $(seq 600); do
  n=$("$STACKCTL" status --json -c "$BENCH_DIR/stackctl.toml" 2>/dev/null | grep -c '"state": "idle"' || true)
  [ "$n" -ge "$WORKERS" ] && break
  sleep 0.2
done
TMUX_SOCK="$BENCH_DIR/tmux.sock"
tmux -S "$TMUX_SOCK" new-session -d -s console -x 160 -y 48 "$STACKCTL attach -c $BENCH_DIR/stackctl.toml"
trap 'tmux -S "$TMUX_SOCK" kill-server 2>/dev/null; bench_cleanup' EXIT
sleep 3
pid=$(tmux -S "$TMUX_SOCK" list-panes -t console -F "#{pane_pid}")
grep -q attach /proc/$pid/cmdline || { echo "pane $pid is not stackctl attach" >&2; exit 1; }
tick=$(getconf CLK_TCK)
t0=$(awk '{print $14+$15}' /proc/$pid/stat)
sleep "$SECONDS_IDLE"
t1=$(awk '{print $14+$15}' /proc/$pid/stat)
awk -v d=$((t1 - t0)) -v tick="$tick" -v s="$SECONDS_IDLE" -v w="$WORKERS" \
  'BEGIN {printf "idle stackctl attach, %d workers, %ds: %.2f%% of one core (target < 3%%)\n", w, s, d/tick/s*100}'
