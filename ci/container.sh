#!/usr/bin/env bash
# Proves docker/Dockerfile without a Docker engine: makes a Debian 12 base image with debootstrap
# (from the mirror this machine's apt uses, or MIRROR=...), imports it as localhost/debian:12,
# builds the image with podman, checks that its nstest links libnl shared and carries the
# third-party notices (ci/lib/podman.sh), then runs the bundled suites in it twice, privileged and
# with only NET_ADMIN + SYS_ADMIN + NET_RAW (podman, unlike Docker, leaves NET_RAW out by default)
# and /proc/sys unmasked, each writing a JUnit report to a mounted folder. Explicit ulimits:
# podman's defaults exceed the hard limits where root lacks CAP_SYS_RESOURCE, and runc refuses
# them. The containers run with --network none: podman's default bridge network would add a
# bridge, firewall rules and ip_forward=1 to the host's namespace, and the cases need no network
# but their own. The host is compared before and after, as the main job does.
# Usage: ci/container.sh   (as root; installs podman, runc and debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib/host-state.sh
. ci/lib/packages.sh
. ci/lib/podman.sh
ensure_packages podman runc debootstrap

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
host_snapshot "$work/before"
ensure_debian_base "$work"
podman build --isolation chroot --pull=never --build-arg BASE=localhost/debian:12 \
  -f docker/Dockerfile -t localhost/nstest:ci . > "$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; exit 1; }
echo "container: built localhost/nstest:ci ($(podman image inspect -f '{{.Size}}' localhost/nstest:ci) bytes)"
podman_notices localhost/nstest:ci

podman_suites "$work" privileged localhost/nstest:ci --privileged
podman_suites "$work" capabilities localhost/nstest:ci --cap-add NET_ADMIN --cap-add SYS_ADMIN \
  --cap-add NET_RAW --security-opt unmask=/proc/sys
host_snapshot "$work/after"
host_compare "$work/before" "$work/after" || { echo "container: the host changed"; exit 1; }
echo "container: host untouched"
