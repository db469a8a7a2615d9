#!/usr/bin/env bash
# The memory guard's face (issue 17): runs that would hold more real bytes than the machine can
# give (init on the host or the sim's data mode, place --backend host, validate) are refused
# before they allocate, with both figures, the binding limit and what to do
# instead, exit 2 — under --max-memory and under an RLIMIT_AS smaller than the need.
set -uo pipefail
twinsim=$1
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_refusal() {  # expect_refusal PATTERN ARGS...
  local pattern=$1; shift
  "$twinsim" "$@" > "$tmp/out" 2> "$tmp/err"
  local rc=$?
  [[ $rc -eq 2 ]] || fail "$*: exit $rc, want 2; $(cat "$tmp/err")"
  [[ $(wc -l < "$tmp/err") -eq 1 ]] || fail "$*: not one line: $(cat "$tmp/err")"
  grep -qE -- "$pattern" "$tmp/err" || fail "$*: message: $(cat "$tmp/err")"
  [[ ! -s "$tmp/out" ]] || fail "$*: printed a result"
}

# The two runs of issue 17: Llama 3 70B in data mode on the sim, 405B on the host backend.
expect_refusal "init of llama3-70b on 128 ranks holds at least 262\.9 GiB of real bytes; this machine can give it [0-9.]+ [GM]iB \(.*\)\. Add --timing-only" \
  init --model llama3-70b --tp 8 --pp 16 --dp 1 --policy torch-serial --backend sim \
  --cluster dgx-h100:nodes=16 --max-memory 16GiB
expect_refusal "init of llama3-405b on 8 ranks holds at least 1\.5 TiB .*--timing-only" \
  init --model llama3-405b --tp 8 --policy counter --max-memory 16GiB
expect_refusal "holds at least 474\.8 MiB of real bytes; this machine can give it 100\.0 MiB \(--max-memory\)" \
  init --model gpt2-small --policy counter --max-memory 100MiB
expect_refusal "--max-memory: expected a size like 24GB or 32GiB, got '12 apples'" \
  init --model gpt2-small --policy counter --max-memory "12 apples"

# place --backend host replays the rank's chunks with real bytes; the other backends hold none.
expect_refusal "place --backend host for rank 0 of gpt2-small holds at least [0-9.]+ GiB of real bytes; this machine can give it 1\.0 GiB \(--max-memory\)\. Use --backend sim or accounting" \
  place --model gpt2-small --cluster v100-32g --policy auto --backend host --max-memory 1GiB
expect_refusal "--max-memory: only with --backend host" \
  place --model gpt2-large --cluster v100-32g --policy auto --max-memory 1GiB
# validate holds every rank's shards on the host before it looks for a GPU.
expect_refusal "validate of gpt2-small on 2 ranks holds at least [0-9.]+ MiB of real bytes; this machine can give it 100\.0 MiB \(--max-memory\)\. validate compares every byte" \
  validate --model gpt2-small --tp 2 --policy counter --backend cuda --max-memory 100MiB

# Timing-only holds no bytes: the same 70B run goes ahead.
"$twinsim" init --model llama3-70b --tp 8 --pp 16 --dp 1 --policy counter --backend sim \
  --cluster dgx-h100:nodes=16 --timing-only --check init-fits --max-memory 1GiB > /dev/null 2> "$tmp/err" ||
  fail "timing-only run refused: $(cat "$tmp/err")"

# Under an address-space limit smaller than the need (AddressSanitizer needs terabytes of
# address space, so its build skips this part).
if [[ -z ${ASAN_OPTIONS:-} ]]; then
  (ulimit -v 4000000 && exec "$twinsim" init --model gpt2-xl --policy counter --check parity) \
    > "$tmp/out" 2> "$tmp/err"
  rc=$?
  [[ $rc -eq 2 ]] && grep -q "holds at least 5\.8 GiB of real bytes; this machine can give it [0-9.]* GiB (RLIMIT_AS)" "$tmp/err" ||
    fail "under ulimit -v: exit $rc: $(cat "$tmp/err")"
fi
echo PASS
