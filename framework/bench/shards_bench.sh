#!/usr/bin/env bash
# The bundled suites as 1, 2 and 4 shards of a Slurm job array on a one-node cluster of this
# machine (ci/lib/slurm.sh), side by side in one run: each shard's wall time (what nstest says it
# took), the array's wall time from sbatch to its return, the scheduler's overhead per shard (from
# submitting to the task's start, and from the last task's end to sbatch's return), and what
# `nstest merge` of the shards costs. First without a cost file (shards balanced by each case's
# estimate), then with the cost file of an unsharded run. Since a shard runs its cases at once
# (-j auto), its wall time is mostly its slowest case's: a shard holding a case longer than the
# shards' mean cannot be shorter than that case, so the balance is measured among the others, as
# their longest against their mean.
# Needs root; installs slurm-wlm and munge when missing.
# Usage: framework/bench/shards_bench.sh [BUILD_DIR=build]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${1:-build}
nstest=$root/$build/framework/nstest
# shellcheck source=ci/lib/slurm.sh
. ci/lib/slurm.sh
slurm_install
state=$(mktemp -d)
work=$(mktemp -d)
trap 'slurm_stop || true; rm -rf "$state" "$work"' EXIT
slurm_start "$state"
ms() { echo $(($(date +%s%N) / 1000000)); }

# A wrapper that records when each task's nstest started and ended (epoch ms).
printf '#!/bin/sh\necho "start $(($(date +%%s%%N) / 1000000))" > "%s/times-$SLURM_ARRAY_TASK_ID"\n"%s" "$@"\ns=$?\necho "end $(($(date +%%s%%N) / 1000000))" >> "%s/times-$SLURM_ARRAY_TASK_ID"\nexit $s\n' \
  "$work" "$nstest" "$work" > "$work/nstest-task"
chmod +x "$work/nstest-task"

# Runs the suites as N shards; prints one line for the array and one per shard.
shards() {
  local n=$1 cost=$2 dir="$work/run-$1-$(basename "$2")" t0 t1 i
  mkdir -p "$dir"
  rm -f "$work"/times-*
  t0=$(ms)
  NSTEST=$work/nstest-task NSTEST_REPORTS=$dir sbatch --wait --quiet --array=0-$((n - 1)) \
    --chdir="$dir" "$root/ci/slurm/nstest-array.sh" "$root/suites" --cost-file "$cost" || true
  t1=$(ms)
  local m0 m1
  m0=$(ms)
  "$nstest" merge "$dir"/nstest-shard-*.xml --xml "$dir/merged.xml" > /dev/null
  m1=$(ms)
  local walls=() slowest=() starts=() last_end=0
  for ((i = 0; i < n; i++)); do
    walls+=("$(sed -nE 's/.*cases ran\. \(([0-9]+) ms total.*/\1/p' "$dir/nstest-shard-$i.log")")
    slowest+=("$(sed -nE 's/^\[ +(OK|FAILED|ERROR|SKIPPED) +\] [^ ]+ \(([0-9]+) ms\).*/\2/p' \
      "$dir/nstest-shard-$i.log" | sort -n | tail -n 1)")
    starts+=("$(sed -n 's/^start //p' "$work/times-$i")")
    local end
    end=$(sed -n 's/^end //p' "$work/times-$i")
    [ "$end" -le "$last_end" ] || last_end=$end
  done
  printf '%d shard(s), cost file %-9s: array %5.1f s, merge %3d ms, sbatch return after the last task %4d ms\n' \
    "$n" "$(basename "$cost")" "$(echo "$t0 $t1" | awk '{print ($2 - $1) / 1000}')" \
    "$((m1 - m0))" "$((t1 - last_end))"
  for ((i = 0; i < n; i++)); do
    printf '  shard %d: wall %5.1f s, slowest case %5.1f s, from submit to start %5d ms\n' "$i" \
      "$(echo "${walls[$i]}" | awk '{print $1 / 1000}')" \
      "$(echo "${slowest[$i]:-0}" | awk '{print $1 / 1000}')" "$((starts[i] - t0))"
  done
  # The longest shard against the mean of the shards whose slowest case is within that mean.
  printf '%s\n' "${walls[@]}" | paste -d' ' - <(printf '%s\n' "${slowest[@]}") | awk -v n="$n" '
    { wall[NR] = $1; slow[NR] = $2; sum += $1; if ($1 > max) max = $1 }
    END {
      mean = sum / n; k = 0; s = 0; top = 0
      for (i = 1; i <= n; i++) if (slow[i] <= mean) { k++; s += wall[i]; if (wall[i] > top) top = wall[i] }
      if (k > 0) printf "  of the %d shards whose slowest case is within the mean (%.1f s), the longest is %.2fx their mean\n", k, mean / 1000, top / (s / k)
    }'
}

for n in 1 2 4; do shards "$n" none; done
# A cost file from an unsharded run, named, so every shard balances on the same durations.
"$nstest" run suites --cost-file "$work/costs.txt" > /dev/null
for n in 2 4; do shards "$n" "$work/costs.txt"; done
