#!/usr/bin/env bash
# The main job: runs the bundled suites (suites/) and writes a JUnit report, then validates the
# report against the Jenkins xunit schema when ../shared is beside the repository. As root, it also
# proves the host untouched: every value under /proc/sys/net, the links, addresses, routes,
# nftables ruleset and NFQUEUE listeners of the host's namespace are the same after the run, and no
# namespace or mount is left.
# Usage: ci/run-suites.sh [REPORT=nstest-report.xml] [nstest run flags...]
set -uo pipefail
cd "$(dirname "$0")/.."
report=${1:-nstest-report.xml}
shift || true
build=${NSTEST_BUILD_DIR:-build}
[ -x "$build/framework/nstest" ] || ci/build.sh
. ci/lib/host-state.sh
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
[ "$(id -u)" = 0 ] && host_snapshot "$snap/before"
"$build/framework/nstest" run suites --xml "$report" "$@"
status=$?
if [ "$(id -u)" = 0 ]; then
  host_snapshot "$snap/after"
  if host_compare "$snap/before" "$snap/after"; then
    echo "host untouched: $(wc -l < "$snap/after/sysctl") values under /proc/sys/net, links," \
      "addresses, routes, nftables, NFQUEUE listeners; no namespace or mount left"
  else
    status=1
  fi
fi
xsd=../shared/junit/xsd/jenkins-xunit-junit-10.xsd
if [ -f "$report" ] && [ -f "$xsd" ]; then
  xmllint --noout --schema "$xsd" "$report" || status=1
fi
if [ -f "$report" ] && /usr/bin/python3 -c 'import junitparser' 2>/dev/null; then
  ci/check-report.py "$report" || status=1
fi
exit $status
