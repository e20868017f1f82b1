#!/usr/bin/env bash
# Proves ci/lib/slurm.sh: installs Slurm and MUNGE, starts a one-node cluster in a temporary
# directory, runs job arrays on it (tasks that create a network namespace; one array with a task
# that dies of SIGKILL), stops the cluster while a job runs, and checks that nothing it started is
# left. Prints how long slurm_start took and what sbatch costs per array task.
# Usage: ci/slurm-selftest.sh        (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib/slurm.sh

if [ "$(id -u)" != 0 ]; then
  echo "slurm-selftest: must run as root (apt-get, munged and slurmd as root)" >&2
  exit 2
fi
slurm_install

state=$(mktemp -d)
trap 'slurm_stop "$state" || true; rm -rf "$state"' EXIT

fail() {
  echo "slurm-selftest: FAIL: $*" >&2
  slurm_logs "$state" >&2
  exit 1
}

# seconds A B: B - A, for two $EPOCHREALTIME values, with millisecond precision.
seconds() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }

# starttime PID: the process's start time (field 22 of /proc/PID/stat), to tell it from a later
# one with the same PID; fails if it is gone. A zombie counts as gone: it runs nothing, and the
# orphans' reaper (PID 1 here) collects it when it gets round to it.
starttime() {
  local line rest
  read -r line 2> /dev/null < "/proc/$1/stat" || return 1
  rest=${line##*) }
  # shellcheck disable=SC2086 # split the fields on purpose
  set -- $rest
  [ "$1" != Z ] || return 1
  echo "${20}"
}

# job_tasks JOBID: "TASKID STATE EXITCODE" per array task, from slurmctld's records.
job_tasks() {
  local line id st ec f
  while read -r line; do
    id="" st="" ec=""
    for f in $line; do
      case $f in
        ArrayTaskId=*) id=${f#*=} ;;
        JobState=*) st=${f#*=} ;;
        ExitCode=*) ec=${f#*=} ;;
      esac
    done
    echo "$id $st $ec"
  done < <(scontrol -o show job "$1")
}

t0=$EPOCHREALTIME
slurm_start "$state"
t1=$EPOCHREALTIME
start_s=$(seconds "$t0" "$t1")
echo "slurm-selftest: slurm_start took $start_s s ($(sinfo -h -o '%P %D %T %c CPUs %m MB'))"

# 1. An array of 4 tasks that create a network namespace. Each task also reports how long its own
# commands took (ns), so that what sbatch adds can be told apart.
tasks=4
# shellcheck disable=SC2016 # expanded by the job's shell
wrap='t0=$(date +%s%N)
echo task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT min $SLURM_ARRAY_TASK_MIN
unshare -n true && echo netns-ok
t1=$(date +%s%N); echo own-ns $((t1 - t0)) start-ns $t0 end-ns $t1'
t0=$EPOCHREALTIME
if ! out=$(timeout 120 sbatch --wait --array=0-$((tasks - 1)) --output="$state/out-%a.txt" \
  --wrap "$wrap"); then
  fail "the first array failed: $out"
fi
t1=$EPOCHREALTIME
wall_s=$(seconds "$t0" "$t1")
own_ns=0 first_ns="" last_ns=""
for ((i = 0; i < tasks; ++i)); do
  f=$state/out-$i.txt
  [ -f "$f" ] || fail "no output of task $i"
  grep -qx "task $i of $tasks min 0" "$f" || fail "task $i: wrong array variables: $(cat "$f")"
  grep -qx netns-ok "$f" || fail "task $i could not create a network namespace: $(cat "$f")"
  read -r _ ns _ s _ e < <(grep '^own-ns ' "$f") || fail "task $i: no timing: $(cat "$f")"
  own_ns=$((own_ns + ns))
  if [ -z "$first_ns" ] || ((s < first_ns)); then first_ns=$s; fi
  if [ -z "$last_ns" ] || ((e > last_ns)); then last_ns=$e; fi
done
own_s=$(awk -v n="$own_ns" 'BEGIN {printf "%.3f", n / 1e9}')
per_task_s=$(awk -v w="$wall_s" -v o="$own_s" -v n="$tasks" 'BEGIN {printf "%.3f", (w - o) / n}')
# Where the time went: submission to the first task's start, the tasks (2 CPUs: 2 at a time),
# the last task's end to sbatch --wait noticing (it polls slurmctld at growing intervals).
to_first_s=$(awk -v a="$t0" -v f="$first_ns" 'BEGIN {printf "%.3f", f / 1e9 - a}')
span_s=$(awk -v f="$first_ns" -v l="$last_ns" 'BEGIN {printf "%.3f", (l - f) / 1e9}')
notice_s=$(awk -v l="$last_ns" -v b="$t1" 'BEGIN {printf "%.3f", b - l / 1e9}')
echo "slurm-selftest: array of $tasks: all netns-ok, variables right; wall $wall_s s, tasks' own" \
  "time $own_s s in all, overhead $per_task_s s per task (submit to first start $to_first_s s," \
  "first start to last end $span_s s, last end to sbatch returning $notice_s s)"

# 2. An array whose task 2 dies of SIGKILL: sbatch --wait must fail, the others must have run.
rm -f "$state"/out-*.txt
rc=0
# shellcheck disable=SC2016 # expanded by the job's shell
wrap='if [ $SLURM_ARRAY_TASK_ID = 2 ]; then kill -9 $$; fi; echo task $SLURM_ARRAY_TASK_ID ok'
out=$(timeout 120 sbatch --wait --array=0-3 --output="$state/out-%a.txt" --wrap "$wrap") || rc=$?
((rc != 124)) || fail "the second array did not end within 120 s"
[[ $out =~ Submitted\ batch\ job\ ([0-9]+) ]] || fail "second array not submitted: $out"
job=${BASH_REMATCH[1]}
((rc != 0)) || fail "sbatch --wait returned 0 although task 2 was killed"
for i in 0 1 3; do
  grep -qx "task $i ok" "$state/out-$i.txt" 2> /dev/null ||
    fail "task $i of the second array did not run"
done
! grep -q ok "$state/out-2.txt" 2> /dev/null || fail "task 2 of the second array was not killed"
states=$(job_tasks "$job" | sort -n | tr '\n' ',')
[[ $states == *"2 FAILED 0:9,"* ]] || fail "task 2 is not FAILED by signal 9: $states"
echo "slurm-selftest: array with task 2 killed: sbatch --wait returned $rc; outputs 0, 1, 3" \
  "there; tasks (id state exit:signal): ${states%,}"

# 3. A job that runs when the cluster stops: slurm_stop must end it too.
sbatch --output="$state/long.txt" --wrap 'echo started; sleep 300; echo not-stopped' > /dev/null
for ((i = 0; i < 300; ++i)); do
  grep -qx started "$state/long.txt" 2> /dev/null && break
  sleep 0.1
done
grep -qx started "$state/long.txt" || fail "the long job did not start within 30 s"
mapfile -t pids < <(slurm_pids "$state")
declare -A start=() comm=()
for p in "${pids[@]}"; do
  st=$(starttime "$p") || continue
  start[$p]=$st
  read -r c < "/proc/$p/comm" || c="?"
  comm[$p]=$c
done
stepd=""
for p in "${!comm[@]}"; do
  [ "${comm[$p]}" = slurmstepd ] && stepd=$p
done
[ -n "$stepd" ] || fail "no slurmstepd among the cluster's processes: ${comm[*]}"
read -r _ _ _ stepd_ppid _ < "/proc/$stepd/stat"
recorded=$(awk '{printf "%s%s=%s", sep, $1, $2; sep = " "}' "$state/daemons")
# slurmd starts slurmstepd through a double fork: its parent is PID 1 (or a subreaper), not slurmd.
echo "slurm-selftest: a job runs; the cluster's processes: ${#start[@]} ($recorded, slurmstepd" \
  "$stepd with ppid $stepd_ppid, the job's shell and sleep)"

t0=$EPOCHREALTIME
slurm_stop || fail "slurm_stop failed"
t1=$EPOCHREALTIME
stop_s=$(seconds "$t0" "$t1")
slurm_stop || fail "slurm_stop failed the second time"
slurm_stop "$state" || fail "slurm_stop $state failed after slurm_stop"

left=()
for p in "${!start[@]}"; do
  now=$(starttime "$p") && [ "$now" = "${start[$p]}" ] && left+=("$p ${comm[$p]}")
done
((${#left[@]} == 0)) || fail "left running after slurm_stop: ${left[*]}"
while read -r name pid st; do
  now=$(starttime "$pid") && [ "$now" = "$st" ] && fail "$name ($pid) still runs"
done < "$state/daemons"
rest=$(slurm_pids "$state")
[ -z "$rest" ] || fail "processes of the cluster left: $rest"
! grep -q not-stopped "$state/long.txt" || fail "the long job ran to its end"
[ -z "${SLURM_CONF:-}" ] || fail "SLURM_CONF still set: $SLURM_CONF"

echo "slurm-selftest: PASS: slurm_start $start_s s; array of $tasks wall $wall_s s, sbatch" \
  "overhead $per_task_s s/task; killed task makes sbatch --wait return $rc; slurm_stop $stop_s s" \
  "with a job running; ${#start[@]} processes started, none left"
