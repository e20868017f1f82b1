# shellcheck shell=bash
# Sourced by CI scripts (under `set -euo pipefail`) that need a one-node Slurm cluster, made from
# Debian 12's packages (Slurm 22.05, MUNGE 0.5.15), without systemd, as root.
#
#   slurm_install          installs slurm-wlm, slurm-client and munge with apt-get unless installed.
#   slurm_start STATE_DIR  generates a munge key and slurm.conf in STATE_DIR (a directory the caller
#                          made, e.g. with mktemp -d), starts munged, slurmctld and slurmd in the
#                          background of the calling shell, exports SLURM_CONF, and returns once
#                          sinfo reports the node idle (0), or prints the daemons' logs, stops them
#                          and returns non-zero (after 60 s, or SLURMCI_START_TIMEOUT seconds).
#                          Call it in the script's own shell, not in $(...) or a pipeline: the
#                          daemons are its children and their PIDs are kept in shell variables.
#   slurm_stop [STATE_DIR] stops the cluster: slurmctld and slurmd (SIGTERM, SIGKILL after 10 s or
#                          SLURMCI_STOP_TIMEOUT), then the processes of jobs still running (the
#                          same), then their slurmstepd processes (SIGKILL after 1 s), then munged;
#                          returns once all are gone (zombies awaiting their reaper count as gone).
#                          Safe to call twice, from an EXIT trap, and with nothing started. Without
#                          an argument it stops what slurm_start started in this shell (and unsets
#                          SLURM_CONF); with one, the cluster recorded in STATE_DIR/daemons.
#                          Returns 1 only if something survived SIGKILL. The caller then removes
#                          STATE_DIR.
#   slurm_pids [STATE_DIR] prints, one a line, the PIDs of the cluster's live processes: the
#                          daemons, every slurmstepd and the jobs' processes.
#   slurm_logs [STATE_DIR] prints the daemons' logs.
#
# Jobs run as root (SlurmdUser=root) with full capabilities: they can create network namespaces.
# Tuned for short CI jobs: MinJobAge=5 (SLURMCI_MIN_JOB_AGE) makes sbatch --wait poll every 2 s
# instead of after 2, 8, 32, 32... s, so finished jobs are forgotten after 5 to 65 s; and
# batch_sched_delay=0 starts batch jobs about 1 s after they can run instead of 3 s.
# Only root can use the cluster: the munge socket lives in STATE_DIR, which mktemp makes 0700.
#
# Nothing outside STATE_DIR is read or written by the daemons as far as Slurm and MUNGE allow:
# munged gets its key, socket, pid, log and seed file by option; slurm.conf names the state, spool,
# pid and log files and the (empty) plugstack.conf. Unavoidable: munged reads /etc/passwd and
# /etc/group for credentials; the daemons read /etc/hosts (SlurmctldHost and NodeAddr are given
# as 127.0.0.1 so that no name lookup is needed to connect); jobs write their output where sbatch
# says. /etc/munge/munge.key, /run/munge, /etc/slurm and /var/spool/slurm* are not used.
#
# How the cluster's processes are found: each daemon is started with SLURMCI_CLUSTER=STATE_DIR in
# its environment. slurmd starts slurmstepd through a double fork (the stepd is reparented to PID 1
# or the nearest subreaper, not to slurmd), so a ppid chain from slurmd does not reach it; the
# stepd inherits slurmd's environment, though, and the tag finds it. The jobs' processes are found
# as descendants (ppid chains in /proc) of the tagged processes. No process is looked up by name.

# shellcheck source=ci/lib/packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

# The PIDs of what slurm_start started in this shell, and the directory they belong to.
SLURMCI_DIR=${SLURMCI_DIR:-}
SLURMCI_MUNGED_PID=${SLURMCI_MUNGED_PID:-}
SLURMCI_SLURMCTLD_PID=${SLURMCI_SLURMCTLD_PID:-}
SLURMCI_SLURMD_PID=${SLURMCI_SLURMD_PID:-}

# The packages' maintainer scripts start the daemons with invoke-rc.d unless, as in container
# images, /usr/sbin/policy-rc.d denies it. Should a system munged start, it uses /run/munge and
# /etc/munge, not STATE_DIR; slurmctld and slurmd fail without /etc/slurm/slurm.conf.
slurm_install() {
  ensure_packages slurm-wlm slurm-client slurmctld slurmd munge
}

# _slurmci_starttime PID: field 22 of /proc/PID/stat (start time in clock ticks since boot), which
# tells a process from a later one that reuses its PID. Fails if PID is gone or a zombie.
_slurmci_starttime() {
  local line rest
  read -r line 2>/dev/null < "/proc/$1/stat" || return 1
  rest=${line##*) }
  # shellcheck disable=SC2086 # split the fields on purpose
  set -- $rest
  [ "$1" != Z ] && [ "$1" != X ] || return 1
  echo "${20}"
}

# _slurmci_alive PID STARTTIME: the process is still the one recorded, and not a zombie.
_slurmci_alive() {
  local now
  now=$(_slurmci_starttime "$1") || return 1
  [ "$now" = "$2" ]
}

# _slurmci_port_free PORT: no TCP socket in this network namespace has PORT as its local port,
# but for connections in TIME_WAIT (state 06), which the daemons' SO_REUSEADDR binds over (a
# previous cluster leaves some).
_slurmci_port_free() {
  local hex
  hex=$(printf '%04X' "$1")
  # awk reads both files to their end (no SIGPIPE under pipefail).
  awk -v h=":$hex" 'FNR > 1 && $4 != "06" && substr($2, length($2) - 4) == h {used = 1}
    END {exit used}' /proc/net/tcp /proc/net/tcp6 2> /dev/null
}

# _slurmci_dir [STATE_DIR]: the state directory meant (absolute, as slurm_start made it), or
# nothing.
_slurmci_dir() {
  if [ -n "${1:-}" ]; then
    (cd "$1" 2> /dev/null && pwd) || echo "${1%/}"
  else
    echo "$SLURMCI_DIR"
  fi
}

slurm_logs() {
  local dir d
  dir=$(_slurmci_dir "${1:-}")
  [ -n "$dir" ] || return 0
  if [ -f "$dir/munged.log" ]; then
    echo "===== $dir/munged.log"
    cat "$dir/munged.log" || true
  fi
  # DAEMON.log is the log file (with slurmstepd's lines in slurmd.log); DAEMON.out is stderr, which
  # -D makes a copy of it, plus what comes before the log file is open (slurm.conf errors) and
  # anything not from Slurm's logger (a crash).
  for d in slurmctld slurmd; do
    if [ -s "$dir/$d.log" ]; then
      echo "===== $dir/$d.log"
      cat "$dir/$d.log" || true
      if [ -s "$dir/$d.out" ] && grep -q -v "^$d: " "$dir/$d.out"; then
        echo "===== $dir/$d.out (what is not in $d.log)"
        grep -v "^$d: " "$dir/$d.out" || true
      fi
    elif [ -f "$dir/$d.out" ]; then
      echo "===== $dir/$d.out"
      cat "$dir/$d.out" || true
    fi
  done
}

# _slurmci_record NAME PID: appends "NAME PID STARTTIME" to STATE_DIR/daemons.
_slurmci_record() {
  local start
  start=$(_slurmci_starttime "$2") || start=0
  echo "$1 $2 $start" >> "$SLURMCI_DIR/daemons"
}

# _slurmci_daemon_alive NAME: the daemon slurm_start recorded under NAME still runs.
_slurmci_daemon_alive() {
  local name pid start
  while read -r name pid start; do
    [ "$name" = "$1" ] && _slurmci_alive "$pid" "$start" && return 0
  done < "$SLURMCI_DIR/daemons"
  return 1
}

# _slurmci_start_failed MESSAGE: prints MESSAGE and the logs, stops what runs; returns 1.
_slurmci_start_failed() {
  echo "slurm_start: $1" >&2
  slurm_logs "$SLURMCI_DIR" >&2
  slurm_stop "$SLURMCI_DIR" || true
  return 1
}

slurm_start() {
  local dir=${1:?slurm_start STATE_DIR}
  dir=$(cd "$dir" && pwd)
  # It ends up in slurm.conf values and in AuthInfo's comma-separated list.
  if ! [[ $dir =~ ^[A-Za-z0-9_./+-]+$ ]]; then
    echo "slurm_start: $dir: only letters, digits and _./+- can be in its path" >&2
    return 1
  fi
  if [ -n "$SLURMCI_DIR" ]; then
    echo "slurm_start: a cluster in $SLURMCI_DIR is running; slurm_stop it first" >&2
    return 1
  fi
  local node cpus mem port conf tag i state out
  node=$(hostname -s)
  cpus=$(nproc)
  # A little below MemTotal: slurmd drains a node that reports less than RealMemory.
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.95)}' /proc/meminfo)
  # SlurmctldPort=port, SlurmdPort=port+1: the first free pair from 16817 on.
  port=16817
  until _slurmci_port_free "$port" && _slurmci_port_free $((port + 1)); do
    port=$((port + 2))
    if ((port > 16817 + 200)); then
      echo "slurm_start: no two free TCP ports in 16817-17017" >&2
      return 1
    fi
  done
  conf=$dir/slurm.conf
  mkdir -p "$dir/munge" "$dir/ctld" "$dir/spool"
  chmod 0700 "$dir/munge"
  : > "$dir/plugstack.conf"
  : > "$dir/daemons"

  # The key: munged insists that it is a regular file owned by the user it runs as (root), and
  # neither group nor world readable.
  mungekey --create --force --bits=1024 --keyfile="$dir/munge/munge.key" 2> "$dir/mungekey.log" ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=128 count=1 status=none
  chmod 0400 "$dir/munge/munge.key"

  cat > "$conf" << EOF
# Generated by ci/lib/slurm.sh for a one-node test cluster; everything lives in $dir.
ClusterName=ci
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
PlugStackConfig=$dir/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
# Whatever hardware slurmd detects, the node is what this file says (no drain on a mismatch).
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
# sbatch --wait polls every 2 s only while MinJobAge/2 <= 2 (else after 2, 8, 32, 32... s), and
# the default batch_sched_delay (3 s) holds back every start of a batch job (or array task).
MinJobAge=${SLURMCI_MIN_JOB_AGE:-5}
SchedulerParameters=batch_sched_delay=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

  SLURMCI_DIR=$dir
  tag=SLURMCI_CLUSTER=$dir
  export SLURM_CONF=$conf

  # --force: munged refuses to run as root and a socket in a directory that is not world-
  # searchable without it (here a warning). With -F it logs to stderr, not to --log-file.
  env "$tag" munged -F --force --num-threads=2 \
    --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
    --log-file="$dir/munge/munged.file.log" < /dev/null > "$dir/munged.log" 2>&1 &
  SLURMCI_MUNGED_PID=$!
  _slurmci_record munged "$SLURMCI_MUNGED_PID"
  for ((i = 0; ; ++i)); do
    munge -S "$dir/munge/munge.socket" -n > /dev/null 2>&1 && break
    _slurmci_daemon_alive munged || { _slurmci_start_failed "munged ended"; return 1; }
    ((i < 100)) || { _slurmci_start_failed "munged did not answer within 10 s"; return 1; }
    sleep 0.1
  done

  # Both daemons log to their log file and, with -D, to stderr as well: stdout/stderr go to a
  # separate *.out file that keeps what they print before they read slurm.conf. slurmctld -c: do
  # not recover jobs, nodes and reservations from StateSaveLocation (a fresh directory has none;
  # it still logs that it found no state files).
  env "$tag" SLURM_CONF="$conf" slurmctld -D -c -f "$conf" \
    < /dev/null > "$dir/slurmctld.out" 2>&1 &
  SLURMCI_SLURMCTLD_PID=$!
  _slurmci_record slurmctld "$SLURMCI_SLURMCTLD_PID"
  # slurmd registers once at start-up: start it once slurmctld answers.
  for ((i = 0; ; ++i)); do
    out=$(scontrol ping 2>&1 || true)
    [[ $out == *" is UP"* ]] && break
    _slurmci_daemon_alive slurmctld || { _slurmci_start_failed "slurmctld ended"; return 1; }
    ((i < 300)) || { _slurmci_start_failed "slurmctld did not answer within 30 s"; return 1; }
    sleep 0.1
  done
  env "$tag" SLURM_CONF="$conf" slurmd -D -N "$node" -f "$conf" \
    < /dev/null > "$dir/slurmd.out" 2>&1 &
  SLURMCI_SLURMD_PID=$!
  _slurmci_record slurmd "$SLURMCI_SLURMD_PID"

  local deadline=$((SECONDS + ${SLURMCI_START_TIMEOUT:-60}))
  while :; do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && return 0
    local d
    for d in munged slurmctld slurmd; do
      _slurmci_daemon_alive "$d" || { _slurmci_start_failed "$d ended"; return 1; }
    done
    if ((SECONDS >= deadline)); then
      _slurmci_start_failed \
        "node $node not idle within ${SLURMCI_START_TIMEOUT:-60} s (state: ${state:-none})"
      return 1
    fi
    sleep 0.2
  done
}

# _slurmci_tree ROOT...: prints ROOT... and all their live descendants (by ppid), one a line.
_slurmci_tree() {
  local -A parent=() in=()
  local f line rest pid p changed
  for f in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null < "$f" || continue
    pid=${f#/proc/}
    pid=${pid%/stat}
    rest=${line##*) }
    rest=${rest#* }
    parent[$pid]=${rest%% *}
  done
  for p in "$@"; do
    [ -n "${parent[$p]:-}" ] && in[$p]=1
  done
  changed=1
  while ((changed)); do
    changed=0
    for pid in "${!parent[@]}"; do
      [ -z "${in[$pid]:-}" ] && [ -n "${in[${parent[$pid]}]:-}" ] && in[$pid]=1 && changed=1
    done
  done
  ((${#in[@]})) && printf '%s\n' "${!in[@]}" | sort -n
  return 0
}

slurm_pids() {
  local dir roots=() name pid start
  dir=$(_slurmci_dir "${1:-}")
  [ -n "$dir" ] || return 0
  if [ -f "$dir/daemons" ]; then
    while read -r name pid start; do
      _slurmci_alive "$pid" "$start" && roots+=("$pid")
    done < "$dir/daemons"
  fi
  # grep -z: environ is NUL-separated; it lists every file to the end (no SIGPIPE).
  mapfile -t -O ${#roots[@]} roots < <(grep -l -s -z -x -F "SLURMCI_CLUSTER=$dir" \
    /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true)
  ((${#roots[@]})) || return 0
  _slurmci_tree "${roots[@]}"
}

# _slurmci_terminate TIMEOUT PID...: SIGTERM; after TIMEOUT seconds SIGKILL to those left; then
# up to 10 s more for them to go. Reaps those that are children of this shell (zombies of others
# count as gone: their parent, often PID 1, reaps them). Returns 1 if any survived SIGKILL.
_slurmci_terminate() {
  local timeout=$1 p t i left
  shift
  local -A start=()
  for p in "$@"; do
    t=$(_slurmci_starttime "$p") || continue
    start[$p]=$t
    kill -TERM "$p" 2> /dev/null || true
  done
  for ((i = 0; ; ++i)); do
    left=()
    for p in "${!start[@]}"; do
      _slurmci_alive "$p" "${start[$p]}" && left+=("$p")
    done
    ((${#left[@]})) || break
    if ((i == timeout * 10)); then
      ((timeout < 2)) ||
        echo "slurm_stop: SIGKILL to ${left[*]} (still there $timeout s after SIGTERM)" >&2
      kill -KILL "${left[@]}" 2> /dev/null || true
    elif ((i > (timeout + 10) * 10)); then
      echo "slurm_stop: ${left[*]} survived SIGKILL" >&2
      return 1
    fi
    sleep 0.1
  done
  for p in "${!start[@]}"; do
    wait "$p" 2> /dev/null || true
  done
  return 0
}

slurm_stop() {
  local dir rc=0 name pid start p
  local daemons=() munged=() tree=() tagged=() jobs=()
  dir=$(_slurmci_dir "${1:-}")
  [ -n "$dir" ] || return 0
  if [ -f "$dir/daemons" ]; then
    while read -r name pid start; do
      _slurmci_alive "$pid" "$start" || { wait "$pid" 2> /dev/null || true; continue; }
      case $name in
        munged) munged+=("$pid") ;;
        *) daemons+=("$pid") ;;
      esac
    done < "$dir/daemons"
  fi
  # 1. slurmctld and slurmd (with anything they forked), so that no job starts any more. munged
  # stays to the end: the others talk to it while they stop.
  if ((${#daemons[@]})); then
    mapfile -t tree < <(_slurmci_tree "${daemons[@]}")
    _slurmci_terminate "${SLURMCI_STOP_TIMEOUT:-10}" "${tree[@]}" || rc=1
  fi
  # 2. The jobs' processes, found below the slurmstepd processes (which slurmd leaves running when
  # it stops, by design), while those are still there to find them by. Again should they fork.
  for _ in 1 2 3 4; do
    mapfile -t tagged < <(grep -l -s -z -x -F "SLURMCI_CLUSTER=$dir" /proc/[0-9]*/environ \
      2> /dev/null | cut -d/ -f3 || true)
    mapfile -t jobs < <(_slurmci_tree "${tagged[@]}")
    local -A is_tagged=()
    for p in "${tagged[@]}"; do is_tagged[$p]=1; done
    local only_jobs=()
    for p in "${jobs[@]}"; do [ -n "${is_tagged[$p]:-}" ] || only_jobs+=("$p"); done
    ((${#only_jobs[@]})) || break
    _slurmci_terminate "${SLURMCI_STOP_TIMEOUT:-10}" "${only_jobs[@]}" || rc=1
  done
  # 3. The slurmstepd processes: with slurmctld gone they retry telling it that their job ended
  # (and ignore SIGTERM while at it), so SIGKILL follows after 1 s.
  mapfile -t tagged < <(grep -l -s -z -x -F "SLURMCI_CLUSTER=$dir" /proc/[0-9]*/environ \
    2> /dev/null | cut -d/ -f3 || true)
  tree=()
  for p in "${tagged[@]}"; do
    for pid in "${munged[@]}"; do [ "$p" = "$pid" ] && continue 2; done
    tree+=("$p")
  done
  _slurmci_terminate 1 "${tree[@]}" || rc=1
  # 4. munged.
  _slurmci_terminate "${SLURMCI_STOP_TIMEOUT:-10}" "${munged[@]}" || rc=1
  if [ -n "$(slurm_pids "$dir")" ]; then
    echo "slurm_stop: left running: $(slurm_pids "$dir" | tr '\n' ' ')" >&2
    rc=1
  fi
  if [ "$dir" = "$SLURMCI_DIR" ]; then
    SLURMCI_DIR="" SLURMCI_MUNGED_PID="" SLURMCI_SLURMCTLD_PID="" SLURMCI_SLURMD_PID=""
    [ "${SLURM_CONF:-}" = "$dir/slurm.conf" ] && unset SLURM_CONF
  fi
  return $rc
}
