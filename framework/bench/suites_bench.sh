#!/usr/bin/env bash
# Wall time of the bundled suites against the sum and the maximum of the per-case times, for
# several -j values, side by side in one run. Needs root.
# Usage: framework/bench/suites_bench.sh [BUILD_DIR=build] [JOBS...=2 8]
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
[ $# -gt 0 ] || set -- 2 8
for j in "$@"; do
  out=$("$build/framework/nstest" run suites -j "$j" --artifacts /tmp/nstest-bench-artifacts 2>&1)
  cases=$(echo "$out" | grep -E '^\[ +(OK|FAILED|ERROR|SKIPPED) +\] ' |
          sed -E 's/^\[[^]]*\] ([^ ]+) \(([0-9]+) ms\).*/\2 \1/')
  sum=$(echo "$cases" | awk '{ s += $1 } END { print s }')
  slowest=$(echo "$cases" | sort -n | tail -1)
  wall=$(echo "$out" | sed -nE 's/.*cases ran\. \(([0-9]+) ms total.*/\1/p')
  result=$(echo "$out" | grep -E '^[0-9]+ passed, ')
  awk -v j="$j" -v wall="$wall" -v sum="$sum" -v max="${slowest%% *}" -v name="${slowest#* }" \
      -v result="$result" 'BEGIN {
    printf "-j %-2s wall %5.1f s | sum of cases %5.1f s | slowest %5.1f s (%s) | wall/slowest %.2fx | %s\n",
           j, wall / 1000, sum / 1000, max / 1000, name, wall / max, result }'
done
