#!/usr/bin/env bash
# The fault suite (docs/reliability.md): every test of tests/faults.rs, the
# ignored kill -9 one included, bounded by `timeout`; then the table of what
# each fault test printed: fault, runs, alerts expected/delivered, samples
# lost, integrity at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
timeout "${KEEPWATCH_FAULTS_TIMEOUT:-240}" \
  cargo nextest run --test faults --run-ignored all --no-capture 2>&1 | tee "$out" || status=$?
echo
echo "| fault | runs | alerts expected/delivered | samples lost | integrity |"
echo "|---|---|---|---|---|"
grep '^FAULT | ' "$out" | sed 's/^FAULT //; s/$/ |/' || true
exit "$status"
