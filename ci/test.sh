#!/usr/bin/env bash
# The test command, in stages. With no argument (or `full`) every stage runs, in this order:
#   format     clang-format check
#   build      warning-free build (-Werror)
#   ctest      unit, integration and seed-behaviour tests, with the leak check
#   suites     the main job: the bundled suites, report validated, the host proven untouched
#   html       the HTML report rendered in headless Chromium, screenshots kept
#   kill       runs killed at random moments leave nothing behind
#   repeat     the suites repeated, idle and with one core busy (no flakes)
#   scale      256 cases at once
#   rootless   the suites and the GoogleTest seed tests as an unprivileged user, each in a user
#              namespace of its own
#   consumer   a project built against the installed package; pkg-config; the docs' examples
#   distributed the bundled suites as a 4-task Slurm job array on a one-node cluster, merged with
#              nstest merge into the unsharded run's verdicts; a killed task's cases named missing
#   sanitize   the unit and integration tests under ASan+UBSan
#   fuzz       a bounded fuzz run: suite loader, expressions, sysctl.d parsing
#   container  the container image built and run with podman on a debootstrap base
#   deb        the .deb installed with apt into a clean Debian 12 image
#   kernels    the suites and seed tests on Debian 12's 6.1 and 6.12 kernels under qemu, and what
#              differs between them and this machine's kernel (nstest compare)
# `fast` is format, build, ctest and suites (under 10 minutes); or name stages:
#   ci/test.sh fast            ci/test.sh build consumer
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NSTEST_BUILD_DIR:-build}
export NSTEST_BUILD_DIR=$build

all=(format build ctest suites html kill repeat scale rootless consumer distributed sanitize fuzz
  container deb kernels)
fast=(format build ctest suites)

stage() {
  case "$1" in
    format) ci/check-format.sh ;;
    build) ci/build.sh ;;
    ctest) ctest --test-dir "$build" --output-on-failure -j"$(nproc)" ;;
    suites) ci/run-suites.sh "$build/nstest-report.xml" ;;
    html) ci/html-report.sh ;;
    kill) ci/kill-runs.sh "${NSTEST_KILL_ROUNDS:-20}" ;;
    repeat)
      # A few rounds here, idle and with one core busy (100 each by hand; see docs).
      ci/repeat-suites.sh "${NSTEST_REPEAT_ROUNDS:-3}"
      ci/repeat-suites.sh "${NSTEST_REPEAT_ROUNDS:-3}" --load
      ;;
    scale) ci/scale.sh 256 ;;
    rootless) ci/rootless.sh ;;
    consumer) ci/consumer.sh ;;
    distributed) ci/distributed.sh ;;
    sanitize) ci/sanitize.sh ;;
    fuzz) ci/fuzz.sh "${NSTEST_FUZZ_SECONDS:-20}" ;;
    container) ci/container.sh ;;
    deb) ci/deb.sh ;;
    kernels) ci/kernel-matrix.sh ;;
    *)
      echo "test.sh: unknown stage '$1'; stages: full fast ${all[*]}" >&2
      exit 2
      ;;
  esac
}

stages=()
if [ $# -eq 0 ]; then
  stages=("${all[@]}")
fi
for arg in "$@"; do
  case "$arg" in
    full) stages+=("${all[@]}") ;;
    fast) stages+=("${fast[@]}") ;;
    *) stages+=("$arg") ;;
  esac
done
for s in "${stages[@]}"; do
  case " ${all[*]} " in
    *" $s "*) ;;
    *)
      echo "test.sh: unknown stage '$s'; stages: full fast ${all[*]}" >&2
      exit 2
      ;;
  esac
done
for s in "${stages[@]}"; do
  start=$(date +%s)
  echo "test.sh: stage $s"
  stage "$s"
  echo "test.sh: stage $s passed in $(($(date +%s) - start)) s"
done
