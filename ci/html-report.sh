#!/usr/bin/env bash
# The HTML report, rendered for real: runs the bundled suites (and a 4097-connection capture from
# fixtures/runner/large_capture.toml) with --html, renders each page in headless Chromium (Debian's
# chromium), keeps the screenshots, and checks what the pages hold: a ladder per capture, a
# timeline per case that ran, no external reference, and a small page for the large capture.
# Usage: ci/html-report.sh [OUT_DIR]   (default $NSTEST_BUILD_DIR/html-report)
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib/packages.sh
ensure_packages chromium || exit 2
build=${NSTEST_BUILD_DIR:-build}
out=$(realpath -m "${1:-$build/html-report}")
mkdir -p "$out"
nstest="$build/framework/nstest"
status=0
fail() { echo "html-report: $*"; status=1; }

# render NAME: NAME.html to NAME.png; prints the seconds it took.
render() {
  local start end
  start=$(date +%s%N)
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1400,2600 --screenshot="$out/$1.png" "file://$out/$1.html" \
    > "$out/$1.chromium.log" 2>&1 || { tail -5 "$out/$1.chromium.log"; return 1; }
  end=$(date +%s%N)
  echo "$(((end - start) / 1000000)) ms"
}

count() { { grep -o "$1" "$2" || true; } | wc -l; }

"$nstest" run suites -j 8 --cost-file none --xml "$out/suites.xml" --html "$out/suites.html" \
  > "$out/suites.log" 2>&1 || fail "the bundled suites did not pass: $(tail -n 1 "$out/suites.log")"
"$nstest" run fixtures/runner/large_capture.toml --cost-file none --xml "$out/large.xml" \
  --html "$out/large.html" > "$out/large.log" 2>&1 ||
  fail "the large capture did not pass: $(tail -n 1 "$out/large.log")"

for page in suites large; do
  html="$out/$page.html"
  [ -s "$html" ] || { fail "$page: no page"; continue; }
  took=$(render "$page") || { fail "$page: chromium could not render it"; continue; }
  png_bytes=$(stat -c %s "$out/$page.png" 2> /dev/null || echo 0)
  [ "$png_bytes" -gt 20000 ] || fail "$page: the screenshot is empty ($png_bytes bytes)"
  captures=$(count '\.count" value=' "$out/$page.xml")
  ladders=$(count '<svg class="ladder"' "$html")
  [ "$ladders" = "$captures" ] || fail "$page: $ladders ladders for $captures captures"
  ran=$(grep -c '<testcase' "$out/$page.xml" || true)
  skipped=$(grep -c '<skipped' "$out/$page.xml" || true)
  timelines=$(count '<svg class="timeline"' "$html")
  [ "$timelines" = $((ran - skipped)) ] || fail "$page: $timelines timelines for $((ran - skipped)) cases that ran"
  if grep -qE 'https?:|src=|@import|//' "$html"; then
    fail "$page: an external reference: $(grep -oE '.{20}(https?:|src=|@import|//).{20}' "$html" | head -1)"
  fi
  echo "html-report: $page: $(du -k "$html" | cut -f1) KiB, $ladders ladders, $timelines" \
    "timelines, rendered in $took; screenshot $out/$page.png ($((png_bytes / 1024)) KiB)"
done
large_kib=$(du -k "$out/large.html" | cut -f1)
[ "$large_kib" -lt 1024 ] || fail "large: the page is $large_kib KiB, over 1 MiB"
grep -q 'The ladder shows the first 400 of' "$out/large.html" ||
  fail "large: the capped ladder does not say so"
[ $status = 0 ] && echo "html-report: every page rendered and holds what it should"
exit $status
