#!/usr/bin/env bash
# tools/dtensor-oracle's face here, where PyTorch has no DTensor or no GPU: `twinsim init --dump`
# writes a dump it accepts, and it stops before the GPU with exit 3 and the reason; bad dumps
# get exit 2 and one line naming what is wrong. On a GPU machine with PyTorch 2.x the same dump
# must agree shard for shard (exit 0), which tools/gpu-check runs.
set -uo pipefail
twinsim=$1
oracle=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() { echo "FAIL: $*" >&2; exit 1; }
# Debian's python3 is the one with python3-torch (tools/setup); another python3 may come first.
py=python3
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3

dump=$tmp/dump
"$twinsim" init --model linear-stack:layers=2,width=8 --tp 2 --dp 2 --policy dtensor \
  --check parity --dump "$dump" > "$tmp/init.out" 2> "$tmp/init.err"
[[ -f $dump/index.json ]] || fail "no index.json: $(cat "$tmp/init.err")"
grep -q "shards written to $dump" "$tmp/init.err" || fail "init did not say where: $(cat "$tmp/init.err")"
"$py" - "$dump" <<'PY' || fail "index does not describe 4 ranks with their files"
import json, os, sys
d = sys.argv[1]
index = json.load(open(os.path.join(d, "index.json")))
assert index["policy"] == "dtensor" and len(index["ranks"]) == 4, index
for rank in index["ranks"]:
    for s in rank["shards"]:
        assert os.path.getsize(os.path.join(d, s["file"])) == s["bytes"], s
        assert s["init"], s
PY

# A second dump to the same folder is refused before any work, and the first is intact.
"$twinsim" init --model tiny-mlp --policy dtensor --dump "$dump" > /dev/null 2> "$tmp/again.err"
rc=$?
[[ $rc -eq 2 ]] || fail "dump over an existing folder: exit $rc, want 2"
grep -q "exists; name a new folder" "$tmp/again.err" || fail "message: $(cat "$tmp/again.err")"
[[ -f $dump/index.json ]] || fail "the first dump was damaged"
"$twinsim" init --model tiny-mlp --policy counter --backend sim --cluster dgx-h100 --timing-only \
  --dump "$tmp/timing" > /dev/null 2> "$tmp/timing.err"
[[ $? -eq 2 ]] && grep -q "timing-only run holds no bytes" "$tmp/timing.err" ||
  fail "timing-only dump: $(cat "$tmp/timing.err")"

"$py" "$oracle" "$dump" > "$tmp/oracle.out" 2> "$tmp/oracle.err"
rc=$?
if [[ $rc -eq 3 ]]; then
  grep -qE "needs PyTorch 2.x|sees no CUDA device" "$tmp/oracle.err" ||
    fail "exit 3 without the reason: $(cat "$tmp/oracle.err")"
  echo "dtensor-oracle stops before the GPU here: $(cat "$tmp/oracle.err")"
elif [[ $rc -ne 0 ]]; then
  fail "oracle exit $rc: $(cat "$tmp/oracle.err")"
fi

# Bad dumps: not a folder of a dump, another policy's dump.
"$py" "$oracle" "$tmp/nowhere" > /dev/null 2> "$tmp/bad.err"; rc=$?
[[ $rc -eq 2 ]] && grep -q "nowhere/index.json" "$tmp/bad.err" || fail "missing dump: exit $rc $(cat "$tmp/bad.err")"
"$twinsim" init --model tiny-mlp --policy counter --dump "$tmp/counter" > /dev/null 2>&1
"$py" "$oracle" "$tmp/counter" > /dev/null 2> "$tmp/bad2.err"; rc=$?
[[ $rc -eq 2 ]] && grep -q "not dtensor" "$tmp/bad2.err" || fail "counter dump: exit $rc $(cat "$tmp/bad2.err")"
echo PASS
