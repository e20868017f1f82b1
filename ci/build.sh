#!/usr/bin/env bash
# Configures and builds nstest into build/ (or $NSTEST_BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NSTEST_BUILD_DIR:-build}
cmake -S . -B "$build" -DNSTEST_WERROR=ON "$@" > /dev/null
cmake --build "$build" -j"$(nproc)"
