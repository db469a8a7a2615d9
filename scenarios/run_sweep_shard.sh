#!/usr/bin/env bash
# One shard of a twinsim_sweep_test (scenarios/sweep.bzl): runs this shard's cases of the
# scenario with `twinsim sweep --shard I/N` into TEST_UNDECLARED_OUTPUTS_DIR. Fails (exit 1)
# when a case fails, e.g. an init case breaks a claimed property.
# Usage: run_sweep_shard.sh SCENARIO JOBS
set -euo pipefail
scenario=$1
jobs=${2:-2}
runfiles=${TEST_SRCDIR:-$0.runfiles}
twinsim="$runfiles/twinsim/twinsim"
[[ -x $twinsim ]] || { echo "run_sweep_shard: twinsim not found at $twinsim" >&2; exit 1; }
# Tells Bazel this test knows about sharding.
[[ -n ${TEST_SHARD_STATUS_FILE:-} ]] && touch "$TEST_SHARD_STATUS_FILE"
index=${TEST_SHARD_INDEX:-0}
total=${TEST_TOTAL_SHARDS:-1}
out=${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}/sweep}
echo "run_sweep_shard: shard $index of $total, $scenario -> $out"
exec "$twinsim" sweep "$scenario" --out "$out" --jobs "$jobs" --shard "$index/$total"
