#!/usr/bin/env bash
# Runs the bundled suites ROUNDS times in a row at the default -j (auto; -j $NSTEST_REPEAT_JOBS
# when set) and counts every failure, per case. With --load, a busy loop (started here and ended by its PID) keeps one core
# busy the whole time.
# Usage: ci/repeat-suites.sh [ROUNDS=100] [--load] [nstest run flags...]
# E.g. the SYN flood 70 times a round at -j4 beside a busy core, as the capture proof runs it:
#   NSTEST_REPEAT_JOBS=4 ci/repeat-suites.sh 100 --load --filter 'syn_queue.flood*' --repeat 70
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-100}
shift || true
load=0
if [ "${1:-}" = --load ]; then
  load=1
  shift
fi
build=${NSTEST_BUILD_DIR:-build}
nstest=$build/framework/nstest
work=$(mktemp -d)
busy=""
cleanup() {
  [ -n "$busy" ] && kill "$busy" 2>/dev/null && wait "$busy" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if [ $load = 1 ]; then
  bash -c 'while :; do :; done' &
  busy=$!
fi

failures=0
cases=0
: > "$work/failed"
: > "$work/walls"
for ((round = 1; round <= rounds; ++round)); do
  start=$(date +%s.%N)
  "$nstest" run suites -j "${NSTEST_REPEAT_JOBS:-auto}" --cost-file "$work/costs" "$@" > "$work/out" 2>&1
  status=$?
  end=$(date +%s.%N)
  echo "$start $end" | awk '{printf "%.2f\n", $2 - $1}' >> "$work/walls"
  ran=$(sed -n 's/^\[==========\] \([0-9]*\) cases ran.*/\1/p' "$work/out")
  cases=$((cases + ${ran:-0}))
  if [ $status != 0 ]; then
    failures=$((failures + 1))
    grep '^\[  FAILED  \] [a-z]\|^\[  ERROR   \]' "$work/out" | tee -a "$work/failed" \
      | sed "s/^/repeat-suites: round $round: /"
    [ -n "$ran" ] || { echo "repeat-suites: round $round: exit $status"; tail -5 "$work/out"; }
  fi
  if ((round % 10 == 0)); then
    echo "repeat-suites: $round of $rounds rounds, $failures failed"
  fi
done
sort -n "$work/walls" | awk -v rounds="$rounds" -v cases="$cases" -v failures="$failures" \
  -v load="$([ $load = 1 ] && echo "one core busy" || echo "idle")" '
  { w[NR] = $1; sum += $1 }
  END {
    printf "repeat-suites: %d rounds (%s), %d cases run, %d rounds with a failure; ", rounds, load,
      cases, failures
    printf "wall per round: median %.1f s, min %.1f s, max %.1f s\n", w[int((NR + 1) / 2)], w[1], w[NR]
  }'
if [ -s "$work/failed" ]; then
  echo "repeat-suites: failures per case:"
  sed 's/ ([0-9]* ms).*//' "$work/failed" | sort | uniq -c | sort -rn
  exit 1
fi
