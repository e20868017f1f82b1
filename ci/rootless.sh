#!/usr/bin/env bash
# Runs the bundled suites, and then the GoogleTest seed tests (NetnsTest fixtures), as an ordinary
# user (nobody, through setpriv): nstest and the fixture enter a user namespace of their own and
# create their network namespaces there. Fails unless every case passes (or is skipped for a
# reason the report gives), the report is valid, and no seed test fails or is skipped for want of
# privilege (a kernel without a feature a test needs may skip it).
# Usage: ci/rootless.sh [USER_ID=65534]   (as root, to switch to that user)
set -uo pipefail
cd "$(dirname "$0")/.."
uid=${1:-65534}
build=${NSTEST_BUILD_DIR:-build}
if [ "$(id -u)" != 0 ]; then
  echo "rootless: SKIPPED: needs root to switch to another user"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$build/framework/nstest" "$build/framework/nstest_seed_tests" "$work/"
cp -r suites "$work/"
chown -R "$uid:$uid" "$work"
chmod 755 "$work"
(cd "$work" && setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all \
  env HOME="$work" ./nstest run suites -j2 --cost-file none --xml "$work/report.xml") \
  > "$work/out.txt" 2>&1
status=$?
tail -4 "$work/out.txt"
grep -q "Note: not privileged: running as root of a user namespace of its own" "$work/out.txt" ||
  { echo "rootless: nstest did not run in a user namespace of its own"; status=1; }
xsd=../shared/junit/xsd/jenkins-xunit-junit-10.xsd
if [ -f "$xsd" ]; then
  xmllint --noout --schema "$xsd" "$work/report.xml" 2>&1 || status=1
fi
if [ $status != 0 ]; then
  grep -B2 -A12 '^\[  FAILED  \] [a-z]\|^\[  ERROR   \] [a-z]' "$work/out.txt" | head -80
  echo "rootless: FAILED (exit $status)"
  exit 1
fi
echo "rootless: the bundled suites passed as uid $uid, without privilege"
(cd "$work" && setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all \
  env HOME="$work" ./nstest_seed_tests) > "$work/gtest.txt" 2>&1
gstatus=$?
tail -3 "$work/gtest.txt"
if [ $gstatus != 0 ] ||
  grep -q 'not privileged\|user namespace\|CAP_SYS_ADMIN\|needs root' "$work/gtest.txt"; then
  grep -B2 -A12 '^\[  FAILED  \]\|^\[  SKIPPED \]' "$work/gtest.txt" | head -60
  echo "rootless: the GoogleTest fixture FAILED or skipped as uid $uid (exit $gstatus)"
  exit 1
fi
echo "rootless: the GoogleTest seed tests passed as uid $uid, in a user namespace of their own"
