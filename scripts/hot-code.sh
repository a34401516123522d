#!/usr/bin/env bash
# Makes build/hot-code.txt, the functions a watching agent runs once it has
# started, most run first. build.rs hands the list to the linker, which
# places them together at the start of the code, so the agent's code in
# memory is a few contiguous megabytes instead of 64 KiB windows spread over
# all of it (issue 11; see build.rs and BENCHMARKS.md).
#
# Runs the release keepwatch, the very binary `cargo build --release` makes,
# under valgrind's callgrind, doing what a small shop's keepwatch does: 25 local web services
# every 30 s, one critical service at its default interval, a TCP service,
# this computer's metrics, the API on and idle, and heartbeats; and beside it,
# also under callgrind, what an agent of another server does (issue 15): 25
# TCP services and its metrics, sent to the first one as its hub. Both
# processes' counts are added up. Only what runs after WARMUP is counted (start-up code is let go of by
# resident.rs, so it need not be together). Run it again after large
# changes; a function missing from the list still works, it only lands
# elsewhere. Linux x86_64; installs valgrind if it is missing (as root).
#
#   scripts/hot-code.sh [SECONDS=300] [WARMUP=60]
#
# The binary is stripped, so callgrind sees addresses; the linker's map
# (asked for with KEEPWATCH_LINK_MAP, see build.rs) names the function at
# each. Symbol names carry a hash of the build's settings, so they must come
# from this very build: a build with other settings (say, not stripped) names
# every function differently and the list would match nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
warm=${2:-60}

if ! command -v valgrind >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
target=${CARGO_TARGET_DIR:-target}
KEEPWATCH_LINK_MAP=1 cargo build --release --quiet --bin keepwatch
bin=$(realpath "$target/release/keepwatch")
map=$target/release/keepwatch.map
[ -f "$map" ] || { echo "no linker map at $map: is this x86_64 Linux with the toolchain's lld?"; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

web=$(free_port)
python3 scripts/ok-server.py "$web" &
pids+=($!)

api=$(free_port)
{
  printf '[agent]\nname = "hot-code"\ndata_dir = "%s/data"\n' "$dir"
  printf '[api]\nlisten = "127.0.0.1:%s"\n' "$api"
  # Under valgrind keepwatch itself is slow: it must not slow down its job.
  printf '[throttle]\nenabled = false\n'
  for i in $(seq 25); do
    printf '[[service]]\nname = "service %d"\ntype = "http"\nurl = "http://127.0.0.1:%d/s%d"\ninterval = "30s"\n' "$i" "$web" "$i"
  done
  printf '[[service]]\nname = "shop"\ntype = "http"\nurl = "http://127.0.0.1:%d/shop"\ncritical = true\n' "$web"
  printf '[[service]]\nname = "port"\ntype = "tcp"\nhost = "127.0.0.1"\nport = %d\n' "$web"
  printf '[[service]]\nname = "backup"\ntype = "heartbeat"\nevery = "1m"\ngrace = "30s"\n'
} > "$dir/keepwatch.toml"

# An agent that sends to the first keepwatch as its hub.
token=$("$bin" --config "$dir/keepwatch.toml" agent add web2 --url "http://127.0.0.1:$api" \
  | grep -o 'kw_agent_[0-9a-f]*')
mkdir -p "$dir/web2"
{
  printf '[agent]\nname = "web2"\ndata_dir = "%s/web2/data"\n' "$dir"
  printf '[api]\nenabled = false\n[throttle]\nenabled = false\n'
  printf '[hub]\nurl = "http://127.0.0.1:%s"\ntoken = "%s"\n' "$api" "$token"
  for i in $(seq 25); do
    printf '[[service]]\nname = "port %d"\ntype = "tcp"\nhost = "127.0.0.1"\nport = %d\ninterval = "30s"\n' "$i" "$web"
  done
} > "$dir/web2/keepwatch.toml"

profiled=()
profile() { # NAME CONFIG: keepwatch run under callgrind, in the background
  valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$dir/callgrind.$1" \
    "$bin" --config "$2" run > "$dir/log.$1" 2>&1 &
  pids+=($!)
  profiled+=($!)
}
profile hub "$dir/keepwatch.toml"
profile agent "$dir/web2/keepwatch.toml"
sleep "$warm"
for pid in "${profiled[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "keepwatch exited early:"; cat "$dir"/log.*; exit 1; }
  # Start-up does not count: its counts are set to zero.
  callgrind_control -z "$pid" >/dev/null
done
echo "counting what runs for $secs s"
for _ in $(seq $((secs / 20))); do
  sleep 20
  "$bin" --config "$dir/keepwatch.toml" ping backup >/dev/null
done
kill -TERM "${profiled[@]}"
wait "${profiled[@]}" || true

python3 - "$bin" "$map" build/hot-code.txt "$dir/callgrind.hub" "$dir/callgrind.agent" <<'PY'
import bisect, collections, re, sys
binary, map_file, listing, *outs = sys.argv[1:]
# The map: "VMA LMA Size Align Out/In/Symbol"; a symbol's line has only its name.
starts, names = [], []
row = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+\s+(\S.*)$")
for line in open(map_file, errors="replace"):
    m = row.match(line)
    if m and not m.group(2).startswith(".") and ":(" not in m.group(2):
        starts.append(int(m.group(1), 16))
        names.append(m.group(2).strip())
order = sorted(range(len(starts)), key=starts.__getitem__)
starts = [starts[i] for i in order]
names = [names[i] for i in order]

def symbol(address):
    i = bisect.bisect_right(starts, address) - 1
    return names[i] if i >= 0 else None

cost = collections.Counter()
def count(out):
    """Adds each function's own instructions in one callgrind output to cost."""
    ob = fn = None
    after_call = False
    for line in open(out, errors="replace"):
        if line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("fn="):
            # "0x…'2": callgrind marks a recursion level or context after a quote.
            name = line[3:].strip().split("'")[0]
            fn = None
            if ob == binary and name.startswith("0x"):
                fn = symbol(int(name, 16))
            after_call = False
        elif line.startswith("calls="):
            after_call = True  # the next cost line is the callee's, not this function's
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_call:
                after_call = False
            elif fn:
                parts = line.split()
                cost[fn] += int(parts[1]) if len(parts) > 1 else 0

for out in outs:
    count(out)
hot = sorted((f for f in cost if cost[f] > 0), key=lambda f: (-cost[f], f))
if len(hot) < 100:
    sys.exit(f"only {len(hot)} functions of {binary} were named from {map_file}")
with open(listing, "w") as f:
    f.write("".join(name + "\n" for name in hot))
print(f"{listing}: {len(hot)} functions, {sum(cost.values())} instructions counted")
PY
