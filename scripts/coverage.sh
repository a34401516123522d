#!/usr/bin/env bash
# Measures test coverage with cargo-tarpaulin (LLVM engine: needs no llvm-tools)
# and prints the line coverage percentage. Installs tarpaulin on first use.
# Its build goes to $CARGO_TARGET_DIR/coverage (target/coverage by default);
# the full report to target/coverage.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo tarpaulin --version >/dev/null 2>&1; then
  cargo install cargo-tarpaulin --locked --quiet
fi
mkdir -p target
# The instrumented build runs several times slower, so a test that measures
# keepwatch's own CPU use cannot pass there; it runs in the test stage on the
# ordinary build. Every other test runs here too (--no-fail-fast); the test
# stage is the gate for failures, this stage measures coverage and says loudly
# if a test failed under instrumentation.
cargo tarpaulin --engine llvm --skip-clean --no-fail-fast --target-dir "${CARGO_TARGET_DIR:-target}/coverage" \
  --out Stdout --timeout 300 "$@" -- --skip a_start_raises_no_false_alarm_about_keepwatch_itself \
  2>&1 | tee target/coverage.txt | grep -E '^\|\| src' || true
if grep -qE '^test result: FAILED|Test failed during run' target/coverage.txt; then
  echo "WARNING: tests failed in the instrumented coverage build:" >&2
  grep -E '^    [a-z_:]+$' target/coverage.txt >&2 || true
fi
grep -E 'coverage, ' target/coverage.txt | tail -n1
