#!/usr/bin/env bash
# Bounded fuzz run: fuzzer binary, seconds, scratch corpus dir, tests/ dir.
set -euo pipefail
fuzzer=$1 seconds=$2 scratch=$3 tests=$4
mkdir -p "$scratch"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -dict="$tests/fuzz/rule.dict" -print_final_stats=1 \
  "$scratch" "$tests/fuzz/corpus" "$tests/data/success" "$tests/data/failure" "$tests/data/ast"
