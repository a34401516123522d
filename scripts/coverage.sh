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
cargo tarpaulin --engine llvm --skip-clean --target-dir "${CARGO_TARGET_DIR:-target}/coverage" \
  --out Stdout --timeout 300 "$@" 2>&1 | tee target/coverage.txt | grep -E '^\|\| src' || true
grep -E 'coverage, ' target/coverage.txt | tail -n1
