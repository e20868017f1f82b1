#!/usr/bin/env bash
# Wall time of the bundled suites against the sum and the maximum of the per-case times, for
# several -j values, side by side in one run. Needs root.
# Usage: framework/bench/suites_bench.sh [BUILD_DIR=build] [JOBS...=2 8]
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
jobs=("${@:-2 8}")
for j in ${jobs[@]}; do
  out=$("$build/framework/nstest" run suites -j "$j" --artifacts /tmp/nstest-bench-artifacts 2>&1)
  echo "$out" | awk -v j="$j" '
    /^\[ +(OK|FAILED|ERROR|SKIPPED) +\] / {
      if (match($0, /\(([0-9]+) ms\)/, m)) { t = m[1] + 0; sum += t; if (t > max) { max = t; slowest = $4 } }
    }
    /cases ran\. \(/ { match($0, /\(([0-9]+) ms total\)/, w); wall = w[1] + 0 }
    /passed, .* failed/ { result = $0 }
    END {
      printf "-j %-2s wall %6.1f s | sum of cases %6.1f s | slowest case %5.1f s (%s) | wall/slowest %.2fx | %s\n",
             j, wall / 1000, sum / 1000, max / 1000, slowest, wall / max, result
    }'
done
