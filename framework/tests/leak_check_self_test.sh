#!/usr/bin/env bash
# leak_check.sh must see what a test leaves behind: here a process it started and left running
# in a network namespace of its own. The process is ended afterwards, by its PID.
set -uo pipefail
here=$(dirname "$0")
. "$here/../../ci/lib/host-state.sh"
skip_unless_root leak_check_self_test
pidfile=$(mktemp)
trap '[ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; rm -f "$pidfile"' EXIT
out=$("$here/leak_check.sh" /bin/sh -c "unshare --net sleep 60 < /dev/null > /dev/null 2>&1 & echo \$! > '$pidfile'")
status=$?
failed=0
if [ $status = 0 ]; then
  echo "leak_check_self_test: leak_check.sh passed a test that left a namespace and a process"
  failed=1
fi
grep -q '^leak_check: host netns: left behind: net:\[' <<< "$out" \
  || { echo "leak_check_self_test: the namespace left behind was not reported"; failed=1; }
grep -q "^leak_check: processes started by the tests are still running: $(cat "$pidfile")" <<< "$out" \
  || { echo "leak_check_self_test: the process left behind was not reported"; failed=1; }
if [ $failed != 0 ]; then
  sed 's/^/    /' <<< "$out"
  exit 1
fi
echo "leak_check_self_test: leak_check.sh reported the namespace and the process left behind"
