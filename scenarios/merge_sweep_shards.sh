#!/usr/bin/env bash
# Merges the shards of a twinsim_sweep_test into one report (scenarios/sweep.bzl).
# Usage: bazel run //PKG:NAME_merge -- OUT_DIR [TESTLOGS_DIR]
# TESTLOGS_DIR defaults to bazel-testlogs/PKG/NAME in the workspace; each shard's
# test.outputs/outputs.zip (or unzipped folder) is read.
set -euo pipefail
target=$1
shift
[[ $# -ge 1 ]] || { echo "usage: bazel run ${target/\//:}_merge -- OUT_DIR [TESTLOGS_DIR]" >&2; exit 2; }
cd "${BUILD_WORKING_DIRECTORY:-.}"
out=$1
logs=${2:-${BUILD_WORKSPACE_DIRECTORY:-.}/bazel-testlogs/$target}
runfiles=${RUNFILES_DIR:-$0.runfiles}
twinsim="$runfiles/twinsim/twinsim"
[[ -d $logs ]] || { echo "merge: no test logs at $logs; run bazel test first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dirs=()
shopt -s nullglob
for shard in "$logs" "$logs"/shard_*; do
  outputs=$shard/test.outputs
  [[ -d $outputs ]] || continue
  name=$work/$(basename "$shard")
  mkdir -p "$name"
  if [[ -f $outputs/outputs.zip ]]; then
    unzip -q -o "$outputs/outputs.zip" -d "$name"
  else
    cp -r "$outputs"/. "$name"/
  fi
  [[ -d $name/cases ]] && dirs+=("$name")
done
((${#dirs[@]} > 0)) || { echo "merge: no shard outputs under $logs" >&2; exit 2; }
joined=$(IFS=,; echo "${dirs[*]}")
exec "$twinsim" sweep --merge "$joined" --out "$out"
