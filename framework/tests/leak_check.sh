#!/usr/bin/env bash
# Runs a test binary and proves it left nothing behind on the host: no network namespace, veth,
# bind mount, nftables rule or process of ours, and every readable value under /proc/sys/net, the
# host's links, addresses and routes unchanged.
# Usage: leak_check.sh TEST_BINARY [ARGS...]
set -uo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "leak_check: SKIPPED: needs root to see every process's namespaces"
  exit 0
fi
tag="nstest-leak-$$-$RANDOM"
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT

snapshot() {
  local out=$1
  mkdir -p "$out"
  find /proc/sys/net -type f -readable 2>/dev/null | sort | while read -r f; do
    printf '%s=%s\n' "$f" "$(tr '\n\t' '  ' < "$f" 2>/dev/null)"
  done > "$out/sysctl"
  ip -o link show | sed 's/ link\/.*//' > "$out/links"
  ip -o addr show > "$out/addrs"
  { ip route show table all; ip -6 route show table all; } > "$out/routes"
  nft list ruleset > "$out/nft" 2>&1 || true
  grep ' nsfs ' /proc/self/mountinfo | awk '{print $5}' | sort > "$out/nsfs"
  ls /run/netns 2>/dev/null | sort > "$out/run_netns"
  # Namespaces pinned by any process or thread.
  for p in /proc/[0-9]*/task/[0-9]*/ns/net; do readlink "$p" 2>/dev/null; done | sort -u > "$out/netns"
}

procs_with_tag() {
  grep -l -s -z "NSTEST_LEAK_TAG=$tag" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | sort
}

snapshot "$snap/before"
NSTEST_LEAK_TAG=$tag "$@"
status=$?
snapshot "$snap/after"

failed=0
for f in sysctl links addrs routes nft nsfs run_netns netns; do
  if ! diff -u "$snap/before/$f" "$snap/after/$f" > "$snap/$f.diff"; then
    echo "leak_check: host $f changed:"
    cat "$snap/$f.diff"
    failed=1
  fi
done
left=$(procs_with_tag)
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
