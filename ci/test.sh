#!/usr/bin/env bash
# The test command: builds warning-free, checks formatting, runs every unit and integration test
# (integration tests skip with a reason where namespaces cannot be created), then the reliability
# checks: the main job with the host proven untouched, runs killed at random moments, the suites
# repeated idle and under load, 256 cases at once, the suites run rootless, a project built against
# the installed package, the tests again under ASan+UBSan, and fuzzing. Then the slower part: the
# container image and the .deb proven with podman, and the suites on Debian 12's 6.1 kernel under
# qemu.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/check-format.sh
ci/build.sh
build=${NSTEST_BUILD_DIR:-build}
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
# The main job too: the bundled suites with a JUnit report, validated against the schema.
NSTEST_BUILD_DIR=$build ci/run-suites.sh "$build/nstest-report.xml"
# Runs killed at random moments leave nothing behind.
NSTEST_BUILD_DIR=$build ci/kill-runs.sh "${NSTEST_KILL_ROUNDS:-20}"
# No flakes: a few rounds here, idle and with one core busy (100 each by hand; see the README).
NSTEST_BUILD_DIR=$build ci/repeat-suites.sh "${NSTEST_REPEAT_ROUNDS:-3}"
NSTEST_BUILD_DIR=$build ci/repeat-suites.sh "${NSTEST_REPEAT_ROUNDS:-3}" --load
# 256 cases at once.
NSTEST_BUILD_DIR=$build ci/scale.sh 256
# The bundled suites as an ordinary user, in a user namespace of nstest's own.
NSTEST_BUILD_DIR=$build ci/rootless.sh
# Another project builds against the installed package and runs its tests.
NSTEST_BUILD_DIR=$build ci/consumer.sh
# The unit and integration tests under AddressSanitizer and UndefinedBehaviorSanitizer.
ci/sanitize.sh
# A bounded fuzz run over the suite loader, the expression evaluator and sysctl.d parsing.
ci/fuzz.sh "${NSTEST_FUZZ_SECONDS:-20}"
# The container image, built and run with podman on a debootstrap base.
ci/container.sh
# The .deb, installed with apt into a clean Debian 12 image, runs the installed suites.
ci/deb.sh
# The suites and seed tests on Debian 12's kernel (6.1) under qemu.
NSTEST_BUILD_DIR=$build ci/kernel-matrix.sh
