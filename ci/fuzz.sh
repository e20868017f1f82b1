#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 30),
# starting from the bundled suites, the bad-input fixtures and the sysctl.d samples.
# Usage: ci/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${NSTEST_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$build" -DNSTEST_FUZZ=ON -DNSTEST_BUILD_TESTS=OFF \
  -DNSTEST_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" -j"$(nproc)" --target nstest_fuzz_suite_loader nstest_fuzz_expr \
  nstest_fuzz_sysctl_file > /dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/suite" "$corpus/expr" "$corpus/sysctl"
# Each seed under its directory's name too: the same file name may be in two of them.
for f in suites/*.toml fixtures/bad-suites/*.toml fixtures/runner/*.toml; do
  cp "$f" "$corpus/suite/$(basename "$(dirname "$f")")-$(basename "$f")"
done
printf 'min(backlog, sysctl("net.core.somaxconn")) + 1' > "$corpus/expr/1"
printf '(n * -3) %% (big / 2)' > "$corpus/expr/2"
cp fixtures/sysctl.d/* "$corpus/sysctl/"
run() {
  local target=$1 dir=$2 status=0
  echo "fuzz: $target for ${seconds}s"
  "$build/framework/nstest_fuzz_$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=4096 -print_final_stats=1 "$dir" > "$corpus/$target.log" 2>&1 || status=$?
  grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Test unit written' "$corpus/$target.log" || true
  if [ "$status" != 0 ]; then
    tail -40 "$corpus/$target.log"
    return "$status"
  fi
}
run suite_loader "$corpus/suite"
run expr "$corpus/expr"
run sysctl_file "$corpus/sysctl"
echo "fuzz: no crash, hang or sanitizer report"
