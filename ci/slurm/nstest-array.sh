#!/usr/bin/env bash
# Slurm: one shard of an nstest run per task of a job array. nstest reads SLURM_ARRAY_TASK_ID,
# SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT itself, so the array's size is the shard count:
#   sbatch --array=0-3 --wait ci/slurm/nstest-array.sh suites --cost-file none
#   nstest merge nstest-shard-*.xml --xml nstest-report.xml
# The arguments go to `nstest run` (suites, --filter, --sysctl, ...). $NSTEST names the binary
# (default: nstest on PATH), $NSTEST_REPORTS the folder the shards' reports go to (default: the
# job's working directory, which every node must see). Tasks create network namespaces: they run
# as root (or nstest enters a user namespace of its own), with task/none or task/affinity.
#SBATCH --job-name=nstest
#SBATCH --output=nstest-shard-%a.log
#SBATCH --ntasks=1
set -euo pipefail
reports=${NSTEST_REPORTS:-.}
exec "${NSTEST:-nstest}" run "$@" --xml "$reports/nstest-shard-${SLURM_ARRAY_TASK_ID:?not a job array task}.xml"
