#!/usr/bin/env bash
# keepwatch side by side with monit (issue 11): both watch the same 25 local
# HTTP services every 15 s plus this computer's CPU, memory and load, at the
# same time, for SECONDS after WARMUP. Prints one table: CPU % of one core,
# RSS, PSS, RssAnon, RssFile, disk writes per hour (/proc/PID/io
# write_bytes) and the checks each one did, counted at the test server by
# User-Agent (so neither can skip work), with keepwatch's ratio to monit.
# Linux only; installs Debian's monit if it is missing (as root).
#
#   scripts/bench-vs-monit.sh [SECONDS=600] [WARMUP=60]
#
# KEEPWATCH_BIN=path measures that binary instead of building the release
# one. KEEPWATCH_THROTTLE=off also turns keepwatch's self-throttling off, so
# the comparison does not depend on it. Note the host's load (uptime) with
# the figures: both programs are measured in the same run, on the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
warm=${2:-60}
n=25

if ! command -v monit >/dev/null; then
  echo "installing monit"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq monit >/dev/null
fi
bin=${KEEPWATCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin keepwatch
  bin="${CARGO_TARGET_DIR:-target}/release/keepwatch"
fi

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# The services: one small web server that counts requests by client.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$port" <<'PY' &
import json, sys, collections
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
counts = collections.Counter()
class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/__counts":
            body = json.dumps(counts).encode()
        else:
            agent = self.headers.get("User-Agent", "").split("/")[0].lower()
            counts[agent] += 1
            body = b"ok"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
class Server(ThreadingHTTPServer):
    def handle_error(self, *args): pass
Server(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
PY
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/__counts" && break; sleep 0.1; done

# keepwatch: the defaults (its API idle, on a free port) plus the 25
# services every 15 s.
api=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
  printf '[agent]\nname = "bench"\ndata_dir = "%s/data"\n[api]\nlisten = "127.0.0.1:%d"\n' "$dir" "$api"
  [ "${KEEPWATCH_THROTTLE:-on}" = off ] && printf '[throttle]\nenabled = false\n'
  for i in $(seq "$n"); do
    printf '[[service]]\nname = "service %d"\ntype = "http"\nurl = "http://127.0.0.1:%d/s%d"\ninterval = "15s"\n' "$i" "$port" "$i"
  done
} > "$dir/keepwatch.toml"
"$bin" --config "$dir/keepwatch.toml" check >/dev/null
"$bin" --config "$dir/keepwatch.toml" run > "$dir/keepwatch.log" 2>&1 &
kw=$!
pids+=("$kw")

# monit: the same services and the system's CPU, memory and load, every 15 s.
{
  printf 'set daemon 15\nset logfile %s/monit.log\nset idfile %s/monit.id\nset statefile %s/monit.state\n' "$dir" "$dir" "$dir"
  printf 'check system bench\n  if loadavg (1min) > 64 then alert\n  if memory usage > 95%% then alert\n  if cpu usage > 95%% for 5 cycles then alert\n'
  for i in $(seq "$n"); do
    printf 'check host service%d with address 127.0.0.1\n  if failed port %d protocol http request "/s%d" then alert\n' "$i" "$port" "$i"
  done
} > "$dir/monitrc"
chmod 600 "$dir/monitrc"
monit -t -c "$dir/monitrc" >/dev/null
monit -I -c "$dir/monitrc" > "$dir/monit.out" 2>&1 &
mo=$!
pids+=("$mo")

sleep "$warm"
for p in "$kw" "$mo"; do
  kill -0 "$p" 2>/dev/null || { echo "a watcher exited early:"; cat "$dir/keepwatch.log" "$dir/monit.out"; exit 1; }
done

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
written() { awk '/^write_bytes:/{print $2}' "/proc/$1/io"; }
counts() { curl -s "http://127.0.0.1:$port/__counts"; }
declare -A t0 w0 sum peak
for p in "$kw" "$mo"; do t0[$p]=$(ticks "$p"); w0[$p]=$(written "$p"); sum[$p]=0; peak[$p]=0; done
c0=$(counts); s0=$(date +%s.%N); samples=0
for _ in $(seq "$secs"); do
  sleep 1
  samples=$((samples + 1))
  for p in "$kw" "$mo"; do
    r=$(rss "$p"); sum[$p]=$((sum[$p] + r)); [ "$r" -gt "${peak[$p]}" ] && peak[$p]=$r
  done
done
s1=$(date +%s.%N); c1=$(counts)

row() { # NAME PID CLIENT
  local p=$2 kib
  kib() { awk -v k="$1:" '$1 == k {print $2}' "$2"; }
  local checks
  checks=$(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(b.get(sys.argv[3],0)-a.get(sys.argv[3],0))' "$c0" "$c1" "$3")
  awk -v name="$1" -v t0="${t0[$p]}" -v t1="$(ticks "$p")" -v hz="$hz" -v s0="$s0" -v s1="$s1" \
    -v sum="${sum[$p]}" -v n="$samples" -v pss="$(kib Pss "/proc/$p/smaps_rollup")" \
    -v anon="$(kib RssAnon "/proc/$p/status")" -v file="$(kib RssFile "/proc/$p/status")" \
    -v w0="${w0[$p]}" -v w1="$(written "$p")" -v checks="$checks" 'BEGIN{
      wall = s1 - s0
      printf "%s %.3f %.1f %.1f %.1f %.1f %.2f %d\n", name, (t1-t0)/hz/wall*100, sum/n/1024, pss/1024, anon/1024, file/1024, (w1-w0)/wall*3600/1e6, checks }'
}
{ row keepwatch "$kw" keepwatch; row monit "$mo" monit; } > "$dir/rows.txt"

echo "keepwatch and monit side by side, $secs s after $warm s of warm-up, $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| figure | keepwatch | monit | ratio |"
echo "|---|---|---|---|"
awk 'NR==1 {for (i=2;i<=NF;i++) k[i]=$i} NR==2 {for (i=2;i<=NF;i++) m[i]=$i}
  END {
    split("CPU, % of one core|RSS, MiB|PSS, MiB|RssAnon, MiB|RssFile, MiB|disk writes, MB per hour|checks done", names, "|")
    for (i=2;i<=8;i++) {
      ratio = (m[i] > 0) ? sprintf("%.2f", k[i]/m[i]) : "–"
      printf "| %s | %s | %s | %s |\n", names[i-1], k[i], m[i], ratio
    }
  }' "$dir/rows.txt"
