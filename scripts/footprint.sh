#!/usr/bin/env bash
# Footprint benchmark: builds keepwatch (release), starts `keepwatch run` with a
# config in a temporary folder, lets it warm up, then samples its CPU and
# memory from /proc once a second. Linux only.
#
#   scripts/footprint.sh [SECONDS=120] [WARMUP=15] [EXTRA_CONFIG_FILE]
#
# EXTRA_CONFIG_FILE is appended to the config (e.g. services to check).
# KEEPWATCH_BIN=path uses that binary instead of building one (e.g. the one
# `cargo install --path .` made), as scripts/report-memory.sh does.
# The API runs as it does by default, idle, on a free port of 127.0.0.1 (not
# 8970: another keepwatch may have it, and keepwatch would run without its
# API); KEEPWATCH_BENCH_API=off measures the agent with `[api] enabled = false`.
# Last line: "cpu_avg_pct=X rss_avg_mib=Y rss_peak_mib=Z seconds=N pss_mib=P
# rss_anon_mib=A rss_file_mib=F write_mb_per_h=W": PSS and the anonymous and
# file-backed parts of RSS at the end, and the bytes keepwatch caused to be
# written to disk (/proc/PID/io write_bytes) over the window, per hour.
# KEEPWATCH_WRITE_TRACE=1 also traces its writes with strace over the window
# and prints where they went (scripts/write-pages.py: bytes per file, WAL
# frames per transaction and by table, checkpoints) before the last line;
# KEEPWATCH_WRITE_TRACE=each lists every transaction as well.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
warm=${2:-15}
extra=${3:-}

target=${CARGO_TARGET_DIR:-target}
bin=${KEEPWATCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin="$target/release/keepwatch"
fi
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
printf '[agent]\nname = "bench"\ndata_dir = "%s/data"\n' "$dir" > "$dir/keepwatch.toml"
api=${KEEPWATCH_BENCH_API:-on}
case "$api" in
  on)
    api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf '[api]\nlisten = "127.0.0.1:%s"\n' "$api_port" >> "$dir/keepwatch.toml" ;;
  off) printf '[api]\nenabled = false\n' >> "$dir/keepwatch.toml" ;;
  *) echo "KEEPWATCH_BENCH_API is on or off, not $api" >&2; exit 1 ;;
esac
# KEEPWATCH_BENCH_THROTTLE=off: the same job whatever the machine's load
# (throttling stretches the intervals on a busy host, and with them what is
# measured and written), as scripts/bench-vs-monit.sh runs it.
case "${KEEPWATCH_BENCH_THROTTLE:-on}" in
  on) ;;
  off) printf '[throttle]\nenabled = false\n' >> "$dir/keepwatch.toml" ;;
  *) echo "KEEPWATCH_BENCH_THROTTLE is on or off, not $KEEPWATCH_BENCH_THROTTLE" >&2; exit 1 ;;
esac
[ -n "$extra" ] && cat "$extra" >> "$dir/keepwatch.toml"
"$bin" --config "$dir/keepwatch.toml" run > "$dir/log.txt" 2>&1 &
pid=$!
sleep "$warm"
kill -0 "$pid" 2>/dev/null || { echo "keepwatch exited early:"; cat "$dir/log.txt"; exit 1; }
if [ "$api" = on ]; then
  curl -fsS "http://127.0.0.1:$api_port/healthz" >/dev/null || { echo "the API does not answer:"; cat "$dir/log.txt"; exit 1; }
  echo "API: on, idle, on 127.0.0.1:$api_port"
else
  echo "API: off"
fi

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss() { awk '/^VmRSS:/{print $2}' "/proc/$pid/status"; }
written() { awk '/^write_bytes:/{print $2}' "/proc/$pid/io"; }
tracer=
trace=${KEEPWATCH_WRITE_TRACE:-0}
if [ "$trace" != 0 ]; then
  strace -f -tt -y -xx -s 24 -e trace=pwrite64,write,fsync,fdatasync -o "$dir/trace" -p "$pid" 2>/dev/null &
  tracer=$!
  sleep 1
fi
t0=$(ticks); s0=$(date +%s.%N); w0=$(written); sum=0; peak=0; n=0
for _ in $(seq "$secs"); do
  sleep 1
  r=$(rss); sum=$((sum + r)); n=$((n + 1)); [ "$r" -gt "$peak" ] && peak=$r
done
t1=$(ticks); s1=$(date +%s.%N); w1=$(written)
if [ -n "$tracer" ]; then
  kill "$tracer"; wait "$tracer" 2>/dev/null || true
  python3 scripts/write-pages.py "$dir/trace" "$dir/data/keepwatch.db" "$(awk -v a="$s0" -v b="$s1" 'BEGIN{print b-a}')" "$trace"
fi
kib() { awk -v k="$1:" '$1 == k {print $2}' "$2"; }
pss=$(kib Pss "/proc/$pid/smaps_rollup"); anon=$(kib RssAnon "/proc/$pid/status"); file=$(kib RssFile "/proc/$pid/status")
"$bin" --config "$dir/keepwatch.toml" status > "$dir/status.txt" 2>&1 || true
if grep -q '^Services:' "$dir/status.txt"; then
  echo "services at the end: $(grep -c ' up since' "$dir/status.txt") up, $(grep -c ' DEGRADED since' "$dir/status.txt") degraded, $(grep -c ' DOWN since' "$dir/status.txt") down, $(grep -c 'not checked yet' "$dir/status.txt") not checked yet"
fi
echo "binary: $(stat -c %s "$bin") bytes; database after run: $(cat "$dir"/data/keepwatch.db* | wc -c) bytes (with its WAL)"
awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v sum="$sum" -v n="$n" -v peak="$peak" \
  -v pss="$pss" -v anon="$anon" -v file="$file" -v w0="$w0" -v w1="$w1" 'BEGIN{
  wall=s1-s0; printf "cpu_avg_pct=%.3f rss_avg_mib=%.1f rss_peak_mib=%.1f seconds=%.0f pss_mib=%.1f rss_anon_mib=%.1f rss_file_mib=%.1f write_mb_per_h=%.2f\n",
    (t1-t0)/hz/wall*100, sum/n/1024, peak/1024, wall, pss/1024, anon/1024, file/1024, (w1-w0)/wall*3600/1e6 }'
