#!/usr/bin/env bash
# What the order of a run's cases costs: framework/bench/timers.toml (108 timer-bound cases, the
# short ones first in the file) at the default -j, its wall time as a multiple of its slowest case,
# in three orders side by side in one run:
#   file      the file's order (a cost file giving every case the same time keeps it)
#   shuffled  a random order (--shuffle, seeds 1 to 3)
#   estimate  longest first by each case's estimate from its steps (the default, no cost file)
# Needs root. Usage: framework/bench/order_bench.sh [BUILD_DIR=build] [ROUNDS=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rounds=${2:-1}
nstest=$build/framework/nstest
suite=framework/bench/timers.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "wall slowest" in ms of one run.
measure() {
  local out
  out=$("$nstest" run "$suite" "$@" 2>&1) || { echo "$out" | tail -n 5 >&2; return 1; }
  local wall slowest
  wall=$(echo "$out" | sed -nE 's/.*cases ran\. \(([0-9]+) ms total.*/\1/p')
  slowest=$(echo "$out" | sed -nE 's/^\[ +OK +\] [^ ]+ \(([0-9]+) ms\).*/\1/p' | sort -n | tail -n 1)
  echo "$wall $slowest"
}
report() {
  awk -v name="$1" -v w="$2" -v s="$3" 'BEGIN {
    printf "%-9s wall %5.1f s | slowest case %5.1f s | wall/slowest %.2fx\n", name, w / 1000, s / 1000, w / s }'
}
for ((r = 1; r <= rounds; r++)); do
  # The run updates its cost file: a fresh one each round.
  "$nstest" list "$suite" | awk '/^  / {print "1.000 timers." $1}' > "$work/same.txt"
  read -r w s < <(measure --cost-file "$work/same.txt")
  report file "$w" "$s"
  for seed in 1 2 3; do
    read -r w s < <(measure --cost-file none --shuffle --seed "$seed")
    report "shuffle$seed" "$w" "$s"
  done
  read -r w s < <(measure --cost-file none)
  report estimate "$w" "$s"
done
