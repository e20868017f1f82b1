#!/usr/bin/env bash
# The `distributed` stage: the Slurm recipe (ci/slurm/nstest-array.sh) on a real one-node cluster
# made from Debian's slurm-wlm and munge (ci/lib/slurm.sh: the daemons in the foreground, in a
# temporary state folder, stopped by their pids at the end).
#  1. The bundled suites as a 4-task job array, one shard each; `nstest merge` of the 4 reports
#     holds exactly the cases of an unsharded run, with the same verdicts.
#  2. A second array, one of whose tasks is killed (SIGKILL) while it runs: the merge names the
#     cases that shard owed as errors and fails.
# Then the host is proven untouched: no namespace, mount, link or sysctl of ours is left, and
# nothing the stage started still runs.
# Usage: ci/distributed.sh   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${NSTEST_BUILD_DIR:-build}
nstest=$root/$build/framework/nstest
[ -x "$nstest" ] || ci/build.sh
# shellcheck source=ci/lib/slurm.sh
. ci/lib/slurm.sh
# shellcheck source=ci/lib/host-state.sh
. ci/lib/host-state.sh
if [ "$(id -u)" != 0 ]; then
  echo "distributed: must run as root (it installs and starts a Slurm cluster)" >&2
  exit 2
fi

slurm_install
state=$(mktemp -d)
work=$(mktemp -d)
cleanup() {
  slurm_stop || true
  rm -rf "$state" "$work"
}
trap cleanup EXIT
host_snapshot "$work/before"

ms() { echo $(($(date +%s%N) / 1000000)); }
start=$(ms)
slurm_start "$state"
echo "distributed: one-node Slurm cluster up in $(($(ms) - start)) ms"

# The verdicts of a report, one "suite.case status" a line, sorted.
verdicts() {
  /usr/bin/python3 - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
rows = []
for suite in ET.parse(sys.argv[1]).getroot().iter("testsuite"):
    for case in suite.iter("testcase"):
        status = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                status = tag
        rows.append(f"{suite.get('name')}.{case.get('name')} {status}")
print("\n".join(sorted(rows)))
EOF
}

# 1. The unsharded run, then the same plan as a 4-task array.
"$nstest" run suites --cost-file none --xml "$work/whole.xml" > "$work/whole.log" 2>&1 || {
  cat "$work/whole.log"
  exit 1
}
mkdir "$work/array"
t0=$(ms)
NSTEST=$nstest NSTEST_REPORTS=$work/array sbatch --wait --array=0-3 --chdir="$work/array" \
  --quiet "$root/ci/slurm/nstest-array.sh" "$root/suites" --cost-file none || {
  echo "distributed: the array failed"
  cat "$work"/array/*.log
  exit 1
}
t1=$(ms)
"$nstest" merge "$work"/array/nstest-shard-*.xml --xml "$work/merged.xml" > "$work/merge.log" 2>&1 || {
  echo "distributed: merging the 4 shards failed"
  cat "$work/merge.log"
  exit 1
}
verdicts "$work/whole.xml" > "$work/whole.txt"
verdicts "$work/merged.xml" > "$work/merged.txt"
diff -u "$work/whole.txt" "$work/merged.txt" || {
  echo "distributed: the merged report of 4 shards differs from the unsharded run"
  exit 1
}
for i in 0 1 2 3; do
  grep -h '^Note: this is shard' "$work/array/nstest-shard-$i.log"
done
echo "distributed: 4 array tasks in $((t1 - t0)) ms; merged: $(wc -l < "$work/merged.txt")" \
  "cases, the same verdicts as the unsharded run"

# 2. The same array, one task killed while it runs: task 2 says when its nstest has started (a
# file), and is killed with SIGKILL then, as an out-of-memory killer or a lost node would.
mkdir "$work/killed"
printf '#!/bin/sh\n[ "$SLURM_ARRAY_TASK_ID" != 2 ] || touch "%s"\nexec "%s" "$@"\n' \
  "$work/killed/task-2-started" "$nstest" > "$work/nstest-task"
chmod +x "$work/nstest-task"
job=$(NSTEST=$work/nstest-task NSTEST_REPORTS=$work/killed sbatch --parsable --array=0-3 \
  --chdir="$work/killed" "$root/ci/slurm/nstest-array.sh" "$root/suites" --cost-file none)
job=${job%%;*}
deadline=$(($(date +%s) + 180))
until [ -e "$work/killed/task-2-started" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || {
    echo "distributed: task 2 of job $job never started"
    exit 1
  }
  sleep 0.05
done
scancel --signal=KILL --full "${job}_2"
deadline=$(($(date +%s) + 300))
while [ -n "$(squeue -h -j "$job" -o %i 2>/dev/null || true)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || {
    echo "distributed: job $job did not end"
    exit 1
  }
  sleep 0.5
done
if [ -e "$work/killed/nstest-shard-2.xml" ]; then
  echo "distributed: the killed task wrote its report: it ended before it was killed"
  exit 1
fi
status=0
"$nstest" merge "$work"/killed/nstest-shard-*.xml --xml "$work/lost.xml" > "$work/lost.log" \
  2> "$work/lost.err" || status=$?
cat "$work/lost.err"
owed=$(grep -c 'not reported: shard 2/4 owed it' "$work/lost.xml" || true)
[ "$status" = 1 ] && grep -q '^nstest merge: shard 2/4 gave no report: ' "$work/lost.err" \
  && [ "$owed" -gt 0 ] || {
  echo "distributed: merging without the killed shard gave exit $status and $owed errors naming it"
  cat "$work/lost.log"
  exit 1
}
echo "distributed: task 2 killed; the merge failed (exit 1) naming its $owed missing cases"

slurm_stop
host_snapshot "$work/after"
host_compare "$work/before" "$work/after" || {
  echo "distributed: the host changed (above)"
  exit 1
}
echo "distributed: the daemons stopped, no namespace, mount or host change left"
