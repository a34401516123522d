#!/usr/bin/env bash
# The API against its own OpenAPI document, with schemathesis (from PyPI):
# the real `keepwatch run` with an admin, a viewer and a revoked token,
# schemathesis generating requests for every operation as each of them and
# with no token at all. Passes only with 0 server errors and 0 answers that
# differ from the document (status, content type, body schema). Then every
# operation is asked once without a token and with the revoked token (401
# expected, except public ones), every write as the viewer (403 expected), and
# every operation as an agent (403, but for delivering its batches).
#
# Bounded: at most SCHEMATHESIS_EXAMPLES cases per operation (default 25) and
# SCHEMATHESIS_SECONDS per run (default 60), four runs. Operations the
# document marks public (`security: [{}]`: /healthz and the heartbeat ping
# URLs, whose key is their secret) are asked without a token and must answer
# without 401 or 403. schemathesis is
# installed once into a virtualenv under $KEEPWATCH_CI_CACHE (default
# /var/cache/keepwatch-ci), pinned, so later runs reuse it.
#
# Usage: scripts/schemathesis.sh [path/to/keepwatch]  (default: cargo build, debug)
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
# anyio 4.15 and later import themselves lazily, compiling their source in
# whichever thread first touches them; with `--workers 2` on Python 3.11 two
# threads at once crash it ("AST constructor recursion depth mismatch"), a
# schemathesis "Runtime Error" that fails the run at random. Pinned below that.
# Hypothesis parses the source of its lambdas the same way, in whichever
# worker thread describes one first: CI crashed there too (2026-12-07,
# hypothesis/internal/lambda_sources.py), so one worker, one thread.
anyio=4.14.2
examples=${SCHEMATHESIS_EXAMPLES:-25}
seconds=${SCHEMATHESIS_SECONDS:-60}
cache=${KEEPWATCH_CI_CACHE:-/var/cache/keepwatch-ci}
venv=$cache/schemathesis-venv
st=$venv/bin/schemathesis

if ! "$st" --version 2>/dev/null | grep -q "$version" ||
  ! "$venv/bin/pip" show anyio 2>/dev/null | grep -qx "Version: $anyio"; then
  echo "installing schemathesis $version into $venv"
  mkdir -p "$cache"
  # Debian's python3 makes virtualenvs only with python3-venv installed.
  python3 -m venv "$venv" 2>/dev/null || {
    rm -rf "$venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv "$venv"
  }
  timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" "anyio==$anyio"
fi

if [ $# -ge 1 ]; then
  bin=$1
else
  cargo build --quiet --bin keepwatch
  bin=${CARGO_TARGET_DIR:-target}/debug/keepwatch
fi

home=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$home"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$home/keepwatch.toml" <<EOF
[agent]
name = "schemathesis"
data_dir = "$home/data"
[[service]]
name = "Shop"
type = "tcp"
host = "127.0.0.1"
port = $closed
interval = "1s"
[api]
listen = "127.0.0.1:$port"
rate_per_minute = 1000000
EOF
kw() { HOME=$home "$bin" --config "$home/keepwatch.toml" "$@"; }
token() { kw token create "$1" --role "$2" | grep -o 'kw_[a-z]*_[0-9a-f]*'; }
admin=$(token st-admin admin)
viewer=$(token st-viewer viewer)
revoked=$(token st-revoked viewer)
kw token revoke st-revoked >/dev/null
agent=$(kw agent add st-agent | grep -o 'kw_agent_[0-9a-f]*')

# The binary itself in the background (not the kw function, whose subshell
# would be what $! names and the cleanup kills, leaving keepwatch running).
HOME=$home "$bin" --config "$home/keepwatch.toml" run >/dev/null 2>"$home/run.log" &
pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS -H "Authorization: Bearer $viewer" "$base/api/v1/openapi.json" >"$home/openapi.json"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
status=0
fuzz() { # NAME [HEADER]
  local name=$1
  shift
  echo "-- schemathesis as $name"
  # From the temporary folder: schemathesis keeps a cache of crashes in
  # ./.schemathesis, which does not belong in the repository.
  (cd "$home" && "$st" run "$home/openapi.json" --url "$base" --checks "$checks" \
    --max-examples "$examples" --max-time "$seconds" --workers 1 --seed 1 \
    --suppress-health-check all --warnings off --no-color "$@") || status=1
}
fuzz admin -H "Authorization: Bearer $admin"
fuzz viewer -H "Authorization: Bearer $viewer"
fuzz "no token"
fuzz "a revoked token" -H "Authorization: Bearer $revoked"

echo "-- every operation without a token, with a revoked token, as a viewer and as an agent"
"$venv/bin/python" - "$home/openapi.json" "$base" "$viewer" "$revoked" "$agent" <<'EOF' || status=1
import json, sys, urllib.request, urllib.error
document, base, viewer, revoked, agent = sys.argv[1:]
paths = json.load(open(document))["paths"]
def ask(method, path, token):
    request = urllib.request.Request(base + path, method=method.upper(), data=b"{}" if method != "get" else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code
wrong = []
for path, operations in paths.items():
    concrete = path.replace("{name}", "Shop").replace("{id}", "1")
    concrete = concrete.replace("{key}", "0" * 32).replace("{signal}", "start")
    for method, operation in operations.items():
        if operation.get("security") == [{}]:
            got = ask(method, concrete, None)
            if got in (401, 403) or got >= 500:
                wrong.append(f"{method.upper()} {path} (public) without a token: {got}")
            continue
        expected = {"no token": 401, "a revoked token": 401}
        for who, token in (("no token", None), ("a revoked token", revoked)):
            got = ask(method, concrete, token)
            if got != expected[who]:
                wrong.append(f"{method.upper()} {path} with {who}: {got}, expected {expected[who]}")
        if method != "get":
            got = ask(method, concrete, viewer)
            if got != 403:
                wrong.append(f"{method.upper()} {path} as a viewer: {got}, expected 403")
        # An agent's token delivers its own batches (`{}` is not one) and reads nothing.
        expected = 400 if path == "/api/v1/ingest" else 403
        got = ask(method, concrete, agent)
        if got != expected:
            wrong.append(f"{method.upper()} {path} as an agent: {got}, expected {expected}")
print("\n".join(wrong) or f"all {sum(len(o) for o in paths.values())} operations refused as they should be")
sys.exit(1 if wrong else 0)
EOF

if grep -q "$admin\|$viewer\|$revoked\|$agent" "$home/run.log"; then
  echo "a token appeared in keepwatch's log" >&2
  status=1
fi
exit $status
