#!/usr/bin/env bash
# Fails if the PTX of the fill kernels contains instructions that would make device results
# differ from the host's: fused multiply-add (fma.*), approximate math (*.approx*), or
# flush-to-zero (*.ftz*). See Note [Bit-exact host and device] in kernels/README.md.
set -euo pipefail
ptx="$1"
[[ -s "$ptx" ]] || { echo "ptx_check: $ptx is missing or empty" >&2; exit 1; }
bad=$(grep -nE '^\s*(fma\.|[a-z0-9]+\.approx|[a-z0-9.]+\.ftz)' "$ptx" || true)
if [[ -n "$bad" ]]; then
  echo "ptx_check: $ptx has instructions that are not bit-exact with the host build:" >&2
  echo "$bad" | head -20 >&2
  exit 1
fi
n=$(grep -cE '^\s*(add|sub|mul|div|sqrt)\.(rn\.)?f32' "$ptx" || true)
[[ "$n" -gt 50 ]] || { echo "ptx_check: only $n float ops found; is this the fill kernel?" >&2; exit 1; }
echo "ptx_check: $n float add/sub/mul/div/sqrt instructions, none fused, approximate or ftz"
