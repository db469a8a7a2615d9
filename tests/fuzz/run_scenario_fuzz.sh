#!/usr/bin/env bash
# Runs a libFuzzer target (ASan + UBSan) for a bounded time, starting from its seed files (for
# the scenario parser: the good scenarios and the bad-input corpus; for the spec fuzzers: their
# corpus and pinned regressions). Fails on any crash, hang, leak or sanitizer report.
# Usage: run_scenario_fuzz.sh FUZZER SECONDS SEED_FILES...
set -euo pipefail
fuzzer=$1
seconds=$2
shift 2
name=$(basename "$fuzzer" _bin)
corpus=${TEST_TMPDIR:-/tmp}/${name}_corpus
mkdir -p "$corpus"
for f in "$@"; do cp "$f" "$corpus/$(basename "$f")"; done
artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}/
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
echo "$name: ${seconds}s from $# seed files"
"$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" 2>&1 | tail -n 25
# pipefail carries the fuzzer's exit status.
