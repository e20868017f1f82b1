# Sourced by the scripts that prove nstest leaves the host alone: a snapshot of everything a run
# must never change or leave behind in the host's (initial) network namespace, and a comparison.
# Needs root to see every process's namespaces.

# skip_unless_root NAME: ends the calling script, as a skip with its reason, when not root.
skip_unless_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$1: SKIPPED: needs root to see every process's namespaces"
    exit 0
  fi
}

# host_snapshot DIR: writes one file per aspect into DIR. A subshell without -e, and it always
# succeeds: grep and find report unreadable and vanishing files, which is expected here.
host_snapshot() (
  set +e
  local out=$1
  mkdir -p "$out"
  # Every readable value under /proc/sys/net, one line per value line.
  grep -rs '' /proc/sys/net | sort > "$out/sysctl"
  ip -o link show | sed 's/ link\/.*//' > "$out/links"
  ip -o addr show > "$out/addrs"
  { ip route show table all; ip -6 route show table all; } > "$out/routes"
  nft list ruleset > "$out/nft" 2>&1 || true
  # Queues with a listener bound in the host's namespace.
  cat /proc/net/netfilter/nfnetlink_queue > "$out/nfqueue" 2>/dev/null || true
  grep ' nsfs ' /proc/self/mountinfo | awk '{print $5}' | sort > "$out/nsfs"
  ls /run/netns 2>/dev/null | sort > "$out/run_netns"
  # Network namespaces pinned by any process or thread: the one it is in, and any it holds open.
  {
    find /proc/[0-9]*/task/[0-9]*/ns/net -maxdepth 0 -printf '%l\n' 2>/dev/null
    find /proc/[0-9]*/fd -maxdepth 1 -lname 'net:\[*' -printf '%l\n' 2>/dev/null
  } | sed '/^$/d' | sort -u > "$out/netns"
  true
)

# host_compare BEFORE AFTER: prints what differs; returns 1 if anything does. Namespaces and nsfs
# mounts only count when added: processes we never started may end meanwhile.
host_compare() {
  local before=$1 after=$2 f failed=0 added
  for f in sysctl links addrs routes nft nfqueue run_netns; do
    if ! diff -u "$before/$f" "$after/$f" > "$after/$f.diff"; then
      echo "host $f changed:"
      cat "$after/$f.diff"
      failed=1
    fi
  done
  for f in netns nsfs; do
    added=$(comm -13 "$before/$f" "$after/$f")
    if [ -n "$added" ]; then
      echo "host $f: left behind: $added"
      failed=1
    fi
  done
  return $failed
}

# tagged_pids VAR=VALUE: the live processes whose environment holds VAR=VALUE.
tagged_pids() {
  grep -l -s -z -x -F "$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | sort -n
}

# wait_untagged VAR=VALUE: waits up to 5 s for the processes holding VAR=VALUE to end (the kernel
# ends what was confined to a killed case's PID namespace a moment later); prints any left.
wait_untagged() {
  local i
  for ((i = 0; i < 50; ++i)); do
    [ -z "$(tagged_pids "$1")" ] && return 0
    sleep 0.1
  done
  tagged_pids "$1" | tr '\n' ' '
}
