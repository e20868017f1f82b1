#!/usr/bin/env bash
# Proves the .deb that `cpack` builds installs and runs on a clean Debian 12: builds the package
# (a Release build of its own, without tests), installs it with apt into the debootstrap base that
# ci/container.sh also uses (apt fetches its dependencies from Debian's archive while the image is
# built), checks that it links libnl shared and carries the third-party notices, then runs the
# installed `nstest` on the installed suites in a container without network, writing a JUnit
# report to a mounted folder. The host is compared before and after.
# Usage: ci/deb.sh   (as root; installs podman, runc and debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib/host-state.sh
. ci/lib/packages.sh
. ci/lib/podman.sh
ensure_packages podman runc debootstrap dpkg-dev file

build=${NSTEST_DEB_BUILD_DIR:-build-deb}
# libnl shared: its LGPL asks more of a package that carries it linked statically.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DNSTEST_WERROR=ON -DNSTEST_BUILD_TESTS=OFF \
  -DNSTEST_BUILD_BENCH=OFF -DNSTEST_STATIC_LIBNL=OFF > /dev/null
cmake --build "$build" -j"$(nproc)" > /dev/null
(cd "$build" && rm -f ./*.deb && cpack > cpack.log 2>&1) || { cat "$build/cpack.log"; exit 1; }
deb=$(ls "$build"/nstest_*.deb)
echo "deb: $(basename "$deb"), $(du -h "$deb" | cut -f1); Depends: $(dpkg-deb -f "$deb" Depends)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
host_snapshot "$work/before"
ensure_debian_base "$work"
mkdir "$work/context"
cp "$deb" "$work/context/nstest.deb"
cat > "$work/context/Containerfile" <<'END'
FROM localhost/debian:12
COPY nstest.deb /tmp/nstest.deb
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/nstest.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/nstest.deb
RUN mkdir /reports
WORKDIR /reports
CMD ["nstest", "run", "/usr/share/nstest/suites", "--xml", "/reports/nstest-report.xml", \
     "--cost-file", "none"]
END
podman build --isolation chroot --pull=never -t localhost/nstest-deb:ci "$work/context" \
  > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
echo "deb: installed with apt into localhost/debian:12"
podman_run localhost/nstest-deb:ci \
  sh -c 'command -v nstest && nstest --version && dpkg -s nstest | grep -E "^(Status|Version)"'
podman_notices localhost/nstest-deb:ci
podman_suites "$work" deb localhost/nstest-deb:ci --privileged
host_snapshot "$work/after"
host_compare "$work/before" "$work/after" || { echo "deb: the host changed"; exit 1; }
echo "deb: host untouched"
