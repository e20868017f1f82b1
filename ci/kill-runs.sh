#!/usr/bin/env bash
# Kills `nstest run` at random moments and proves, after every round, that nothing of the run is
# left: no network namespace (every task's ns/net link and nsfs mounts), no link, address, route,
# nftables rule or NFQUEUE listener change in the host's namespace, no process.
#   rounds 0, 2 (mod 4): SIGKILL the runner;
#   round 1 (mod 4):     SIGKILL a random process below it (a case, its PID namespace's init, or
#                        a command a case started), then SIGTERM the runner;
#   round 3 (mod 4):     the same, then SIGINT.
# After SIGTERM or SIGINT the runner must exit with 128+N and a valid report of what ran.
# Usage: ci/kill-runs.sh [ROUNDS=20] [MAX_DELAY_MS=5000]
set -uo pipefail
cd "$(dirname "$0")/.."
. ci/lib/host-state.sh
rounds=${1:-20}
max_delay_ms=${2:-5000}
build=${NSTEST_BUILD_DIR:-build}
nstest=$build/framework/nstest
skip_unless_root kill-runs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
host_snapshot "$work/before"

# The bundled suites, plus commands that fork (so that some rounds kill a command's child).
suites=(suites fixtures/runner/forks.toml)
failed=0
for ((round = 0; round < rounds; ++round)); do
  tag="NSTEST_KILL_TAG=$$-$round-$RANDOM"
  report=$work/report-$round.xml
  env "$tag" "$nstest" run "${suites[@]}" -j2 --cost-file none --xml "$report" \
    > "$work/out-$round.txt" 2>&1 &
  runner=$!
  delay_ms=$((RANDOM % max_delay_ms))
  sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
  what="SIGKILL to the runner"
  stop=""
  if ((round % 2 == 1)); then
    mapfile -t below < <(tagged_pids "$tag" | grep -v -x "$runner")
    if ((${#below[@]} > 0)); then
      victim=${below[RANDOM % ${#below[@]}]}
      # The launcher and the cases show the runner's command line; their names tell them apart.
      name="$(cat "/proc/$victim/comm" 2>/dev/null): $(tr '\0' ' ' < "/proc/$victim/cmdline" 2>/dev/null | cut -c1-50)"
      what="SIGKILL to $name (pid $victim)"
      kill -KILL "$victim" 2>/dev/null
      sleep 0.3
    fi
    stop=$([ $((round % 4)) = 1 ] && echo TERM || echo INT)
    what="$what, then SIG$stop to the runner"
    kill "-$stop" "$runner" 2>/dev/null
  else
    kill -KILL "$runner" 2>/dev/null
  fi
  wait "$runner" 2>/dev/null
  status=$?
  problems=""
  if [ -n "$stop" ] && ! grep -q "passed, .* failed, .* skipped" "$work/out-$round.txt"; then
    # The run may have ended on its own before the signal: then it reports normally.
    problems+="no summary after SIG$stop; "
  fi
  if [ -n "$stop" ] && [ $status != 0 ] && [ $status != 1 ]; then
    want=$((128 + $(kill -l "$stop")))
    [ $status = $want ] || problems+="exit $status after SIG$stop, expected $want; "
    xmllint --noout "$report" 2>/dev/null || problems+="no valid report after SIG$stop; "
  fi
  left=$(wait_untagged "$tag")
  [ -z "$left" ] || problems+="processes left: $left; "
  host_snapshot "$work/after-$round"
  if ! host_compare "$work/before" "$work/after-$round" > "$work/diff-$round.txt"; then
    problems+="host changed: $(head -c 2000 "$work/diff-$round.txt"); "
  fi
  if [ -n "$problems" ]; then
    echo "kill-runs: round $round after ${delay_ms} ms ($what): FAILED: $problems"
    sed 's/^/    /' "$work/out-$round.txt" | tail -20
    failed=1
  else
    echo "kill-runs: round $round after ${delay_ms} ms ($what): exit $status, nothing left"
  fi
done
if [ $failed != 0 ]; then exit 1; fi
echo "kill-runs: $rounds rounds, nothing left behind: no namespace, mount, link, route, nftables or NFQUEUE change, no process"
