#!/usr/bin/env bash
# Runs a test binary and proves it left nothing behind on the host: no network namespace, veth,
# bind mount, nftables rule or process of ours, and every readable value under /proc/sys/net, the
# host's links, addresses and routes unchanged.
# Usage: leak_check.sh TEST_BINARY [ARGS...]
set -uo pipefail

. "$(dirname "$0")/../../ci/lib/host-state.sh"
skip_unless_root leak_check
tag="nstest-leak-$$-$RANDOM"
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT

host_snapshot "$snap/before"
NSTEST_LEAK_TAG=$tag "$@"
status=$?
host_snapshot "$snap/after"

failed=0
host_compare "$snap/before" "$snap/after" | sed 's/^/leak_check: /' || failed=1
left=$(tagged_pids "NSTEST_LEAK_TAG=$tag")
if [ -n "$left" ]; then
  echo "leak_check: processes started by the tests are still running: $left"
  ps -o pid,ppid,cmd -p $(echo $left | tr ' ' ',') || true
  failed=1
fi
if [ $status != 0 ]; then
  echo "leak_check: the test binary failed (exit $status)"
  exit $status
fi
if [ $failed != 0 ]; then exit 1; fi
echo "leak_check: nothing left behind; host /proc/sys/net ($(wc -l < "$snap/after/sysctl") values), links, addresses, routes, nftables, mounts unchanged"
