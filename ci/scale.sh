#!/usr/bin/env bash
# Runs CASES cases at once (-j CASES) from a generated suite: each builds the default topology
# (two namespaces and a veth pair), proves backlog+1 and holds its namespaces for HOLD seconds, so
# that all of them are alive together. Reports how fast namespaces were created and destroyed and
# the peak memory, and fails unless every case passed with all 2 x CASES namespaces alive at once
# and none left afterwards.
# Usage: ci/scale.sh [CASES=256] [HOLD=15]
set -uo pipefail
cd "$(dirname "$0")/.."
cases=${1:-256}
hold=${2:-15}
build=${NSTEST_BUILD_DIR:-build}
nstest=$build/framework/nstest
. ci/lib/host-state.sh
skip_unless_root scale
work=$(mktemp -d)
sampler=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "${NSTEST_SCALE_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

values=$(seq -s, 1 "$cases")
cat > "$work/scale.toml" <<TOML
name = "scale"

[[test]]
name = "held"
matrix.n = [$values]
timeout = 120
  [[test.step]]
  listen = { port = 8080, backlog = 2 }
  [[test.step]]
  connect = { port = 8080, count = 3 }
  [[test.step]]
  wait.accept_queue = { port = 8080, value = 3 }
  [[test.step]]
  run = { argv = ["sleep", "$hold"], timeout_ms = $(( (hold + 60) * 1000 )) }
  [[test.step]]
  expect.connections = { established = 3 }
TOML

tag="NSTEST_SCALE_TAG=$$-$RANDOM"
/usr/bin/python3 ci/scale-sample.py "$tag" 100 > "$work/sample.json" &
sampler=$!
sleep 0.5  # the sampler's baseline
start=$(date +%s.%N)
env "$tag" "$nstest" run "$work/scale.toml" -j "$cases" --cost-file none > "$work/out.txt" 2>&1
status=$?
end=$(date +%s.%N)
# Let the kernel finish and the last processes go before the sampler stops.
wait_untagged "$tag" > /dev/null
sleep 0.5
kill -TERM "$sampler"
wait "$sampler"
sampler=""
tail -3 "$work/out.txt"
/usr/bin/python3 - "$work/sample.json" "$cases" "$start" "$end" "$status" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
cases = int(sys.argv[2])
wall = float(sys.argv[4]) - float(sys.argv[3])
status = int(sys.argv[5])
want = 2 * cases
def rate(n, seconds):
    return f"{n / seconds:.0f}/s" if seconds > 0 else "n/a"
print(f"scale: {cases} cases at once in {wall:.1f} s (exit {status}); "
      f"peak {s['peak_namespaces']} namespaces alive together, {s['peak_processes']} processes")
print(f"scale: created {s['peak_namespaces']} in {s['seconds_to_create']:.2f} s "
      f"({rate(s['peak_namespaces'], s['seconds_to_create'])}), "
      f"destroyed in {s['seconds_to_destroy']:.2f} s "
      f"({rate(s['peak_namespaces'], s['seconds_to_destroy'])}), {s['samples']} samples")
print(f"scale: peak memory in use {s['peak_used_mib']} MiB above the baseline "
      f"(PSS of nstest's processes: {s['peak_pss_mib']} MiB)")
problems = []
if status != 0:
    problems.append(f"nstest exited {status}")
if s["peak_namespaces"] < want:
    problems.append(f"only {s['peak_namespaces']} of {want} namespaces were alive at once")
if s["namespaces_left"] != 0:
    problems.append(f"{s['namespaces_left']} namespaces left")
if problems:
    print("scale: FAILED: " + "; ".join(problems))
    sys.exit(1)
PY
