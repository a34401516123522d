#!/usr/bin/env bash
# The fault suite (docs/reliability.md): every test of tests/faults.rs, the
# ignored kill -9 one included, and the mail-server outage tests of
# tests/alerting.rs, bounded by `timeout`; then the table of what each fault
# test printed: fault, runs, alerts expected/delivered, samples lost, and how
# it ended (the database's integrity, a refusal, panics), and the time taken.
# Every test runs even when one fails, so the table always has every row.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
limit=${KEEPWATCH_FAULTS_TIMEOUT:-240}
started=$SECONDS
status=0
timeout "$limit" \
  cargo nextest run --test faults --test alerting --run-ignored all --no-capture --no-fail-fast \
  -E 'binary(faults) or (binary(alerting) and test(/mail_server/))' 2>&1 | tee "$out" || status=$?
echo
echo "| fault | runs | alerts expected/delivered | samples lost | end |"
echo "|---|---|---|---|---|"
grep '^FAULT | ' "$out" | sed 's/^FAULT //; s/$/ |/' || true
echo
echo "fault suite: $((SECONDS - started)) s (bounded to $limit s), $(date -u '+%Y-%m-%d %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$status" = 124 ]; then
  echo "fault suite: stopped by its $limit s bound"
fi
exit "$status"
