#!/usr/bin/env bash
# Hub benchmark (issue 15), the release keepwatch as a hub on 127.0.0.1:
#  1. Ten real agents (`keepwatch run`, each with its data folder and a token
#     from `keepwatch agent add`), each measuring this computer every 10 s and
#     checking 25 TCP services every 30 s, for MINUTES after a minute's
#     warm-up: the hub's CPU (share of one core) and memory (RSS at the end,
#     and its peak), the same for one agent, and the bytes on the wire per
#     sample: the agents send through scripts/hub-wire.py, an HTTP proxy that
#     counts both ways (headers too) and opens the batches to count samples.
#  2. One agent with a 24 h backlog (examples/agent_backlog.rs: a simulated
#     host and 25 services, in simulated time, ending now): the time from its
#     start until the hub has all of it, and the bytes per sample.
# Goals: hub < 1% CPU and < 30 MB RSS steady; a 24 h backlog in < 60 s;
# agent <= 10 MB RSS and < 0.1% CPU. Self-throttling is off for all of them,
# so a busy machine does not lighten the load. Linux only.
#
#   scripts/bench-hub.sh [MINUTES=5]
#
# KEEPWATCH_BIN=path measures that keepwatch instead of building the release
# one (as scripts/bench-checks.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-5}
agents=10

target=${CARGO_TARGET_DIR:-target}
bin=${KEEPWATCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin keepwatch
  bin=$target/release/keepwatch
fi
cargo build --quiet --example agent_backlog
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hub_port=$(free_port)
wire_port=$(free_port)
target_port=$(free_port)
tick=$(getconf CLK_TCK)
# CPU seconds a process has used so far; a line of its /proc status in MB.
cpu() { awk -v t="$tick" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
mb() { awk -v k="$2" '$1 == k":" { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
now() { date +%s.%N; }
# bytes both ways, samples, requests through the proxy so far.
wire() { python3 -c 'import json,sys; w=json.load(open(sys.argv[1])); print(w["bytes_up"]+w["bytes_down"], w["samples"], w["requests"])' "$dir/wire.json"; }
# Up to where (ms of the agent's clock) the hub has NAME's data, 0 if nothing.
upto() {
  python3 -c '
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
row = db.execute("SELECT upto_ms FROM remote_agents WHERE name = ?", (sys.argv[2],)).fetchone()
print(row[0] if row else 0)' "$dir/hub/data/keepwatch.db" "$1"
}

# What the services check: a port that accepts and closes.
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
while True:
    c, _ = s.accept(); c.close()' "$target_port" &
pids+=($!)
python3 scripts/hub-wire.py "$wire_port" "$hub_port" "$dir/wire.json" &
pids+=($!)

mkdir -p "$dir/hub"
printf '[agent]\nname = "hub"\ndata_dir = "%s/hub/data"\n[api]\nlisten = "127.0.0.1:%s"\n[throttle]\nenabled = false\n' \
  "$dir" "$hub_port" >"$dir/hub/keepwatch.toml"
"$bin" --config "$dir/hub/keepwatch.toml" run >/dev/null 2>"$dir/hub/log.txt" &
hub=$!
pids+=("$hub")

# Sets up the agent NAME: its token from `keepwatch agent add`, 25 services.
agent() {
  local name=$1 home=$dir/$1 token
  mkdir -p "$home"
  token=$("$bin" --config "$dir/hub/keepwatch.toml" agent add "$name" --url "http://127.0.0.1:$wire_port" \
    | grep -o 'kw_agent_[0-9a-f]*')
  {
    printf '[agent]\nname = "%s"\ndata_dir = "%s/data"\n' "$name" "$home"
    printf '[api]\nenabled = false\n[throttle]\nenabled = false\n'
    printf '[hub]\nurl = "http://127.0.0.1:%s"\ntoken = "%s"\n' "$wire_port" "$token"
    for i in $(seq 25); do
      printf '[[service]]\nname = "service%s"\ntype = "tcp"\nhost = "127.0.0.1"\nport = %s\ninterval = "30s"\n' "$i" "$target_port"
    done
  } >"$home/keepwatch.toml"
}

web=()
for n in $(seq "$agents"); do
  agent "web$n"
  "$bin" --config "$dir/web$n/keepwatch.toml" run >/dev/null 2>"$dir/web$n/log.txt" &
  pids+=($!)
  web+=($!)
done
echo "hub and $agents agents started; a minute's warm-up, then $minutes minutes measured"
echo "machine: $(nproc) cores, load $(uptime | sed 's/.*load average: //')"
sleep 60
hub_cpu0=$(cpu "$hub"); agent_cpu0=$(cpu "${web[0]}"); read -r bytes0 samples0 requests0 < <(wire); t0=$(now)
sleep $((minutes * 60))
hub_cpu1=$(cpu "$hub"); agent_cpu1=$(cpu "${web[0]}"); read -r bytes1 samples1 requests1 < <(wire); t1=$(now)
python3 - "$t0" "$t1" "$hub_cpu0" "$hub_cpu1" "$agent_cpu0" "$agent_cpu1" \
  "$bytes0" "$bytes1" "$samples0" "$samples1" "$requests0" "$requests1" <<PY
import sys
t0, t1, h0, h1, a0, a1, b0, b1, s0, s1, r0, r1 = map(float, sys.argv[1:])
wall, samples = t1 - t0, s1 - s0
print(f"steady state, $agents agents, {wall:.0f} s measured:")
print(f"  hub:   CPU {100 * (h1 - h0) / wall:.2f}% of a core, RSS $(mb "$hub" VmRSS) MB (peak $(mb "$hub" VmHWM) MB)")
print(f"  agent: CPU {100 * (a1 - a0) / wall:.3f}% of a core, RSS $(mb "${web[0]}" VmRSS) MB (peak $(mb "${web[0]}" VmHWM) MB) (web1)")
print(f"  wire:  {samples:.0f} samples ({samples / wall / $agents:.2f} a second per agent) in {r1 - r0:.0f} requests, "
      f"{b1 - b0:.0f} bytes both ways: {(b1 - b0) / max(samples, 1):.1f} bytes per sample")
PY
echo "load after: $(uptime | sed 's/.*load average: //')"

# Part 2: the ten stop; one agent with a day's backlog starts.
kill "${web[@]}"
agent backlog
"$target/debug/examples/agent_backlog" "$dir/backlog/data/keepwatch.db" backlog 24
read -r bytes0 samples0 requests0 < <(wire)
start=$(now)
start_ms=$(python3 -c "print(int($start * 1000))")
"$bin" --config "$dir/backlog/keepwatch.toml" run >/dev/null 2>"$dir/backlog/log.txt" &
pids+=($!)
until [ "$(upto backlog)" -ge "$start_ms" ]; do
  if python3 -c "import sys, time; sys.exit(time.time() - $start < 600)"; then
    echo "the backlog was not delivered in 10 minutes; the agent's log:" >&2
    cat "$dir/backlog/log.txt" >&2
    exit 1
  fi
  sleep 0.2
done
took=$(python3 -c "print(f'{$(now) - $start:.1f}')")
sleep 2  # the proxy writes its totals every second
read -r bytes1 samples1 requests1 < <(wire)
python3 - "$bytes0" "$bytes1" "$samples0" "$samples1" "$requests0" "$requests1" <<PY
import sys
b0, b1, s0, s1, r0, r1 = map(float, sys.argv[1:])
print(f"24 h backlog of one agent: {s1 - s0:.0f} samples in {r1 - r0:.0f} requests, all on the hub $took s after the agent started; "
      f"{(b1 - b0) / max(s1 - s0, 1):.2f} bytes per sample on the wire")
print(f"  hub after it: RSS $(mb "$hub" VmRSS) MB (peak $(mb "$hub" VmHWM) MB)")
PY
echo "load after: $(uptime | sed 's/.*load average: //')"
