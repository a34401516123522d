#!/usr/bin/env bash
# Memory of `keepwatch run` (release) around a scheduled report: N local HTTP
# services every 30 s (as scripts/bench-checks.sh), and a daily report to the
# log channel due WAIT seconds after the start. Samples VmRSS once a second
# and prints it before the report, its peak, and at the end, with the
# anonymous (heap) and file-backed (program code) parts. Linux only.
#
#   scripts/report-memory.sh [N=25] [SECONDS=180] [WAIT=90]
#
# KEEPWATCH_BIN=path uses that binary instead of building one (e.g. the
# release binary `cargo bench` left behind).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-25}
secs=${2:-180}
wait_for=${3:-90}
target=${CARGO_TARGET_DIR:-target}
bin=${KEEPWATCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin="$target/release/keepwatch"
fi
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 scripts/ok-server.py "$port" &
server=$!
trap 'kill "$pid" "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
# Scheduled in whole minutes: the first minute at least WAIT seconds away.
due=$(date -u -d "@$(( ($(date +%s) + wait_for + 59) / 60 * 60 ))" +%H:%M)
{
  printf '[agent]\nname = "bench"\ndata_dir = "%s/data"\n[api]\nenabled = false\n' "$dir"
  printf '[business]\ntimezone = "UTC"\n'
  for i in $(seq "$n"); do
    printf '[[service]]\nname = "service %d"\ntype = "http"\nurl = "http://127.0.0.1:%d/s%d"\ninterval = "30s"\n' "$i" "$port" "$i"
  done
  printf '[[report]]\nevery = "day %s"\nperiod = "today"\naudience = "technical"\nchannel = "log"\n' "$due"
} > "$dir/keepwatch.toml"
"$bin" --config "$dir/keepwatch.toml" run 2> "$dir/log.txt" &
pid=$!
echo "report due at $due UTC; sampling for $secs s"
rss() { awk '/^VmRSS:/{print $2}' "/proc/$pid/status"; }
# Anonymous memory (the heap) and file pages (mostly the program's own code).
parts() { awk '/^RssAnon:/{a=$2} /^RssFile:/{f=$2} END{printf "anon %.1f MiB, file %.1f MiB", a/1024, f/1024}' "/proc/$pid/status"; }
before=0; peak=0; made=""; parts_before=""
for t in $(seq "$secs"); do
  sleep 1
  kill -0 "$pid" 2>/dev/null || { echo "keepwatch exited:"; cat "$dir/log.txt"; exit 1; }
  r=$(rss)
  if [ -z "$made" ] && grep -q "is made and on its way" "$dir/log.txt"; then made=$t; fi
  if [ -z "$made" ]; then before=$r; parts_before=$(parts); fi
  [ "$r" -gt "$peak" ] && peak=$r
done
[ -n "$made" ] || { echo "no report was made:"; tail "$dir/log.txt"; exit 1; }
grep -o "the report every .* is made and on its way.*" "$dir/log.txt" | head -1
echo "before the report: $parts_before; at the end: $(parts)"
awk -v b="$before" -v p="$peak" -v e="$(rss)" -v m="$made" 'BEGIN{
  printf "rss_before_mib=%.1f rss_peak_mib=%.1f rss_end_mib=%.1f made_after_s=%d\n", b/1024, p/1024, e/1024, m }'
