# Sourced by the scripts that prove nstest leaves the host alone: a snapshot of everything a run
# must never change or leave behind in the host's (initial) network namespace, and a comparison.
# Needs root to see every process's namespaces.

# host_snapshot DIR: writes one file per aspect into DIR.
host_snapshot() {
  local out=$1 p
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
    for p in /proc/[0-9]*/task/[0-9]*/ns/net; do readlink "$p" 2>/dev/null; done
    find /proc/[0-9]*/fd -maxdepth 1 -lname 'net:\[*' -printf '%l\n' 2>/dev/null
  } | sort -u > "$out/netns"
}

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
