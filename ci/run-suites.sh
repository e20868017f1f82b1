#!/usr/bin/env bash
# The main job: runs the bundled suites (suites/) and writes a JUnit report, then validates the
# report against the Jenkins xunit schema when ../shared is beside the repository.
# Usage: ci/run-suites.sh [REPORT=nstest-report.xml] [nstest run flags...]
set -uo pipefail
cd "$(dirname "$0")/.."
report=${1:-nstest-report.xml}
shift || true
build=${NSTEST_BUILD_DIR:-build}
[ -x "$build/framework/nstest" ] || ci/build.sh
"$build/framework/nstest" run suites --xml "$report" "$@"
status=$?
xsd=../shared/junit/xsd/jenkins-xunit-junit-10.xsd
if [ -f "$report" ] && [ -f "$xsd" ]; then
  xmllint --noout --schema "$xsd" "$report" || status=1
fi
if [ -f "$report" ] && /usr/bin/python3 -c 'import junitparser' 2>/dev/null; then
  ci/check-report.py "$report" || status=1
fi
exit $status
