#!/usr/bin/env bash
# Builds nstest with AddressSanitizer and UndefinedBehaviorSanitizer into build-asan/ (or
# $NSTEST_ASAN_BUILD_DIR) and runs every unit and integration test there. Any sanitizer report
# fails the test that caused it (UBSan does not recover; ASan aborts).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NSTEST_ASAN_BUILD_DIR:-build-asan}
NSTEST_BUILD_DIR=$build ci/build.sh -DNSTEST_SANITIZE=ON -DNSTEST_BUILD_BENCH=OFF
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
