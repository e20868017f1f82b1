#!/usr/bin/env bash
# Installs nstest from build/ into a fresh prefix, then builds fixtures/consumer against the
# *installed* package (find_package(nstest)) and runs its tests: its own server's gtest test
# (found by gtest_discover_tests) and a TOML suite registered with nstest_add_suites(). Then,
# with nothing but pkg-config's flags and -Wall -Wextra -Werror, builds and runs the docs' two
# examples (the library one and the GoogleTest one, through nstest-gtest.pc) and a file that
# designated-initialises every public options type.
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
[ "$tests" -ge 4 ] || { echo "consumer: expected the gtest test and the suite's cases, got $tests"; exit 1; }
# Each registered case runs exactly itself, whatever its name: `kernel.*/backlog=-1` too (a name
# passed as a filter would read '-1' as a negative pattern and run nothing), and whatever scheduler
# ctest runs under (here as the second job of a GitLab `parallel: 3`).
CI_NODE_INDEX=2 CI_NODE_TOTAL=3 ctest --test-dir "$work/consumer" -R '^kernel\.' -V \
  > "$work/kernel.log" 2>&1
registered=$(grep -c '^ *[0-9]*: Test command: .*nstest' "$work/kernel.log" || true)
one_each=$(grep -Ec '^[0-9]+: \[  (PASSED|SKIPPED) +\] 1 case' "$work/kernel.log" || true)
grep -q 'backlog=-1' "$work/kernel.log" && [ "$registered" -ge 3 ] && [ "$one_each" = "$registered" ] || {
  echo "consumer: $registered cases registered, $one_each of them ran exactly one case"
  cat "$work/kernel.log"
  exit 1
}

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# Users' code is built with warnings on: the docs' examples, and every public options type
# designated-initialised, compile with -Wall -Wextra -Werror and nothing but pkg-config's flags.
strict=(-std=c++20 -Wall -Wextra -Werror)
# The docs' C++ blocks: the library example of docs/library.md (statements, run inside main())
# and the GoogleTest examples (whole test files): the README's, the same as docs/gtest.md's first,
# and docs/gtest.md's topology example.
cpp_block() { awk -v want="$2" '/^```cpp$/ {n++; on = n == want; next} /^```$/ {on = 0} on' "$1"; }
cpp_block docs/library.md 1 > "$work/library_block.cc"
cpp_block README.md 1 > "$work/readme_gtest.cc"
cpp_block docs/gtest.md 1 | diff -u "$work/readme_gtest.cc" - \
  || { echo "consumer: the GoogleTest examples of README.md and docs/gtest.md differ"; exit 1; }
{
  grep -E '^#include|^using ' "$work/library_block.cc"
  echo 'int main() {'
  grep -vE '^#include|^using ' "$work/library_block.cc"
  echo '  return 0;'
  echo '}'
} > "$work/readme_library.cc"
# shellcheck disable=SC2046
c++ "${strict[@]}" "$work/readme_library.cc" -o "$work/readme_library" $(pkg-config --cflags --libs nstest)
# shellcheck disable=SC2046
c++ "${strict[@]}" fixtures/consumer/examples/aggregates.cc -o "$work/aggregates" $(pkg-config --cflags --libs nstest)
"$work/aggregates"
# A GoogleTest program linked with nothing but `pkg-config nstest-gtest gtest_main`, and run.
# shellcheck disable=SC2046
c++ "${strict[@]}" "$work/readme_gtest.cc" -o "$work/readme_gtest" $(pkg-config --cflags --libs nstest-gtest gtest_main)
"$work/readme_gtest" --gtest_brief=0 | tee "$work/readme_gtest.log"
grep -q '^\[  PASSED  \] 1 test' "$work/readme_gtest.log" || [ "$(id -u)" != 0 ] || {
  echo "consumer: the GoogleTest example did not pass as root"; exit 1; }
# The topology example of docs/gtest.md (a whole test file): three namespaces in a row.
cpp_block docs/gtest.md 2 > "$work/topology_gtest.cc"
# shellcheck disable=SC2046
c++ "${strict[@]}" "$work/topology_gtest.cc" -o "$work/topology_gtest" $(pkg-config --cflags --libs nstest-gtest gtest_main)
"$work/topology_gtest" --gtest_brief=0 | tee "$work/topology_gtest.log"
grep -q '^\[  PASSED  \] 1 test' "$work/topology_gtest.log" || [ "$(id -u)" != 0 ] || {
  echo "consumer: the GoogleTest topology example did not pass as root"; exit 1; }
if [ "$(id -u)" = 0 ]; then
  # As root the library example runs too: it proves backlog+1 and prints nothing.
  "$work/readme_library"
fi
echo "consumer: find_package(nstest), nstest_add_suites(), pkg-config nstest and nstest-gtest, and the docs' examples under -Wall -Wextra -Werror all work ($tests tests)"
