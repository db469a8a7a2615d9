#!/usr/bin/env bash
# Renders a sweep's index.html in headless Chromium and checks that the plots are there: the
# smoke scenario's report must have one <figure class="plot"> per plot with an <svg> inside,
# after the browser has parsed the page (--dump-dom), and a screenshot must be produced.
# Skips (exit 0, saying why) when chromium is not installed; tools/setup installs it.
# Usage: report_render_test.sh TWINSIM SCENARIO
set -euo pipefail
twinsim=$1
scenario=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  echo "SKIPPED: chromium is not installed (tools/setup installs Debian's chromium)"
  exit 0
fi
work=${TEST_TMPDIR:-$(mktemp -d)}
out=$work/report
"$twinsim" sweep "$scenario" --out "$out" --jobs 2 > "$work/sweep.out"
cat "$work/sweep.out"
plots=$(sed -n 's/.*index.html (\([0-9]*\) plots).*/\1/p' "$work/sweep.out")
[[ -n $plots && $plots -ge 4 ]] || { echo "FAIL: expected at least 4 plots, sweep said '$plots'"; exit 1; }

export HOME=$work  # chromium writes its profile there
flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-dev-shm-usage
       --user-data-dir="$work/profile")
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$out/index.html" > "$work/dom.html" 2> "$work/chromium.log" || {
  echo "FAIL: chromium --dump-dom failed"; tail -5 "$work/chromium.log"; exit 1; }
figures=$(grep -o '<figure class="plot"' "$work/dom.html" | wc -l)
svgs=$(grep -o '<svg' "$work/dom.html" | wc -l)
polylines=$(grep -o '<path' "$work/dom.html" | wc -l)
echo "rendered DOM: $figures plot figures, $svgs <svg> elements, $polylines paths"
[[ $figures -eq $plots ]] || { echo "FAIL: $figures plot figures in the DOM, expected $plots"; exit 1; }
[[ $svgs -ge $plots ]] || { echo "FAIL: $svgs <svg> elements in the DOM, expected at least $plots"; exit 1; }
[[ $polylines -ge $((plots * 3)) ]] || { echo "FAIL: the plots have almost no drawing ($polylines paths)"; exit 1; }
for id in init_time_1 oom_frontier_1 peak_gpu_1 pcie_1 step_time_1 timeline_1; do
  grep -q "<figure class=\"plot\" id=\"$id\">" "$work/dom.html" || { echo "FAIL: plot $id missing"; exit 1; }
done
timeout 120 "$browser" "${flags[@]}" --window-size=1100,3000 --screenshot="$work/page.png" \
  "file://$out/index.html" >> "$work/chromium.log" 2>&1 || true
size=$(stat -c %s "$work/page.png" 2>/dev/null || echo 0)
[[ $size -gt 20000 ]] || { echo "FAIL: screenshot missing or blank ($size bytes)"; exit 1; }
[[ -n ${TEST_UNDECLARED_OUTPUTS_DIR:-} ]] && cp "$work/page.png" "$TEST_UNDECLARED_OUTPUTS_DIR/"
echo "PASS: $plots plots rendered; screenshot $size bytes"
