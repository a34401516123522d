#!/usr/bin/env bash
# Service-check benchmark: `keepwatch run` (release) checking N local HTTP
# services every 30 s, plus host metrics, measured like scripts/footprint.sh.
#
#   scripts/bench-checks.sh [N=25] [SECONDS=120] [WARMUP=35] [CRITICAL=0] [REPORT=0]
#
# REPORT=1 adds a weekly [[report]] (not due during the run), to measure what
# a configured report costs the agent while it waits.
# The first CRITICAL of the N services are marked `critical = true` and
# nothing else, so they are checked at the default interval of a critical
# service (4 s) instead of every 30 s.
# The targets are one small Python web server on 127.0.0.1 (its own CPU is
# not counted). The API is on and idle; KEEPWATCH_BENCH_API=off switches it
# off (see scripts/footprint.sh). Last line: as
# scripts/footprint.sh (CPU, RSS, PSS, disk writes per hour).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-25}
secs=${2:-120}
warm=${3:-35}
critical=${4:-0}
report=${5:-0}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 scripts/ok-server.py "$port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for i in $(seq "$n"); do
  printf '[[service]]\nname = "service %d"\ntype = "http"\nurl = "http://127.0.0.1:%d/s%d"\n' "$i" "$port" "$i"
  if [ "$i" -le "$critical" ]; then echo 'critical = true'; else echo 'interval = "30s"'; fi
done > "$dir/services.toml"
if [ "$report" = 1 ]; then
  printf '[[report]]\nevery = "monday 08:00"\nchannel = "log"\n' >> "$dir/services.toml"
fi
echo "checking $n services: $critical critical (default interval), the others every 30 s"
scripts/footprint.sh "$secs" "$warm" "$dir/services.toml"
