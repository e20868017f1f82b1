#!/usr/bin/env bash
# Installs nstest from build/ into a fresh prefix, then builds fixtures/consumer against the
# *installed* package (find_package(nstest)) and runs its tests: its own server's gtest test
# (found by gtest_discover_tests) and a TOML suite registered with nstest_add_suites(). Also
# compiles and links a program with nothing but `pkg-config --cflags --libs nstest`.
# Usage: ci/consumer.sh [PREFIX]   (default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NSTEST_BUILD_DIR:-build}
prefix=${1:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "$prefix" ] || prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
echo "consumer: installed $(grep -c Installing "$work/install.log") files into $prefix"

cmake -S fixtures/consumer -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$work/consumer" -j"$(nproc)" > /dev/null
ctest --test-dir "$work/consumer" --output-on-failure
tests=$(ctest --test-dir "$work/consumer" -N | sed -n 's/^Total Tests: //p')
[ "$tests" -ge 2 ] || { echo "consumer: expected the gtest test and the suite's case, got $tests"; exit 1; }

cat > "$work/pc.cc" <<'CC'
#include <iostream>
#include "nstest/expr.h"
int main() { std::cout << nstest::Expression::Parse("2 * (3 + 4)", {}).Evaluate({}) << "\n"; }
CC
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# shellcheck disable=SC2046
c++ "$work/pc.cc" -o "$work/pc" $(pkg-config --cflags --libs nstest)
[ "$("$work/pc")" = 14 ] || { echo "consumer: the pkg-config program printed the wrong value"; exit 1; }
echo "consumer: find_package(nstest), nstest_add_suites() and pkg-config nstest all work ($tests tests)"
