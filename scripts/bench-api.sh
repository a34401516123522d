#!/usr/bin/env bash
# API benchmark: `keepwatch run` (release) on the storage benchmark's 30-day
# database (5 hosts, 30.2 M samples), and Debian's `wrk` as 10 concurrent
# clients asking for the 30-day history of one series (hourly averages, 720
# points) and for the status, each for SECONDS, then both mixed. Prints wrk's
# p50 / p99 latency and requests per second for each; fails if any answer was
# not 2xx. Linux only; `apt-get install wrk` if it is missing.
#
#   scripts/bench-api.sh [SECONDS=20] [DATABASE]
#
# DATABASE: a database the storage benchmark kept (KEEPWATCH_BENCH_KEEP=1);
# without it one is made first with `cargo bench --bench storage` (a few
# minutes). It is copied, never changed. KEEPWATCH_BIN=path uses that binary
# instead of building one, as scripts/footprint.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
database=${2:-}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }

target=${CARGO_TARGET_DIR:-target}
bin=${KEEPWATCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin keepwatch
  bin="$target/release/keepwatch"
fi
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/data"
if [ -z "$database" ]; then
  echo "making the 30-day database with the storage benchmark"
  KEEPWATCH_BENCH_KEEP=1 KEEPWATCH_BENCH_DIR="$dir" cargo bench --quiet --bench storage | tee "$dir/storage.txt"
  database=$(sed -n 's/^keeping the database: //p' "$dir/storage.txt")
fi
cp "$database" "$dir/data/keepwatch.db"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Ten clients at once: above the default `max_concurrent` (8), and far more
# than the default 600 requests a minute per token, so both are raised here.
cat >"$dir/keepwatch.toml" <<EOF
[agent]
name = "host0"
data_dir = "$dir/data"
[api]
listen = "127.0.0.1:$port"
max_concurrent = 16
rate_per_minute = 4000000000
EOF
kw() { "$bin" --config "$dir/keepwatch.toml" "$@"; }
token=$(kw token create bench --role viewer | grep -o 'kw_view_[0-9a-f]*')
# The binary itself, so that $! is keepwatch and the cleanup stops it.
"$bin" --config "$dir/keepwatch.toml" run >/dev/null 2>"$dir/log.txt" &
pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

history="/api/v1/history?host=host0&metric=cpu.usage_percent&from=2026-03-02T00:00:00Z&to=2026-04-01T00:00:00Z&step=1h&aggregation=avg"
points=$(curl -fsS -H "Authorization: Bearer $token" "$base$history" | grep -o '"at"' | wc -l)
echo "history answer: $points points; binary $(stat -c %s "$bin") bytes; $(nproc) cores"
cat >"$dir/mixed.lua" <<EOF
local paths = {"$history", "/api/v1/status"}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[n % 2 + 1])
end
EOF

status=0
measure() { # NAME PATH-OR-SCRIPT
  local out=$dir/wrk.txt
  if [[ $2 == *.lua ]]; then
    wrk -t 2 -c 10 -d "${secs}s" --latency -H "Authorization: Bearer $token" -s "$2" "$base/" >"$out"
  else
    wrk -t 2 -c 10 -d "${secs}s" --latency -H "Authorization: Bearer $token" "$base$2" >"$out"
  fi
  if grep -q 'Non-2xx' "$out"; then
    echo "$1: some answers were not 2xx:" >&2
    cat "$out" >&2
    status=1
  fi
  awk -v name="$1" '
    $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    /Requests\/sec/ {rps = $2} /requests in/ {n = $1}
    END {printf "%-28s p50 %-9s p99 %-9s %s requests/s (%s requests)\n", name, p50, p99, rps, n}' "$out"
}
echo "10 clients, ${secs} s each:"
measure "30-day history (720 points)" "$history"
measure "status" "/api/v1/status"
measure "both, alternating" "$dir/mixed.lua"
exit $status
