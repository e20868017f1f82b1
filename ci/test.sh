#!/usr/bin/env bash
# The test command: builds warning-free, checks formatting, runs every unit and integration test
# (integration tests skip with a reason where namespaces cannot be created).
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
# A bounded fuzz run over the suite loader, the expression evaluator and sysctl.d parsing.
ci/fuzz.sh "${NSTEST_FUZZ_SECONDS:-20}"
