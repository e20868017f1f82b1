#!/usr/bin/env bash
# Proves docker/Dockerfile without a Docker engine: makes a Debian 12 base image with debootstrap
# (from the mirror this machine's apt uses, or MIRROR=...), imports it as localhost/debian:12,
# builds the image with podman, then runs the bundled suites in it twice, privileged and with only
# NET_ADMIN + SYS_ADMIN + NET_RAW (podman, unlike Docker, leaves NET_RAW out by default) and
# /proc/sys unmasked, each writing a JUnit report to a mounted folder. Explicit ulimits: podman's
# defaults exceed the hard limits where root lacks CAP_SYS_RESOURCE, and runc refuses them. The
# containers run with --network none: podman's default bridge network would add a bridge,
# firewall rules and ip_forward=1 to the host's namespace, and the cases need no network but their
# own. The host is compared before and after, as the main job does.
# Usage: ci/container.sh   (as root; installs podman, runc and debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib/host-state.sh
. ci/lib/packages.sh
ensure_packages podman runc debootstrap

mirror=${MIRROR:-}
if [ -z "$mirror" ]; then
  # The first Debian archive this machine's apt reads from (deb822 or one-line format).
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
           awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' \
                               /etc/apt/sources.list 2>/dev/null)
fi
[ -n "$mirror" ] || { echo "container: no Debian mirror in apt's sources; set MIRROR"; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
host_snapshot "$work/before"
if ! podman image exists localhost/debian:12; then
  echo "container: debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" > "$work/debootstrap.log" ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/rootfs" -c . | podman import - localhost/debian:12 > /dev/null
  rm -rf "$work/rootfs"
fi
podman build --isolation chroot --pull=never --build-arg BASE=localhost/debian:12 \
  -f docker/Dockerfile -t localhost/nstest:ci . > "$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; exit 1; }
echo "container: built localhost/nstest:ci ($(podman image inspect -f '{{.Size}}' localhost/nstest:ci) bytes)"

xsd=../shared/junit/xsd/jenkins-xunit-junit-10.xsd
run() {
  local name=$1
  shift
  mkdir -p "$work/$name"
  podman run --rm --runtime runc --network none --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" \
    --ulimit nproc=4096:4096 "$@" \
    -v "$work/$name:/reports" localhost/nstest:ci > "$work/$name.log" 2>&1 ||
    { tail -30 "$work/$name.log"; echo "container: $name run failed"; return 1; }
  tail -1 "$work/$name.log"
  [ -f "$work/$name/nstest-report.xml" ] || { echo "container: $name wrote no report"; return 1; }
  if [ -f "$xsd" ]; then xmllint --noout --schema "$xsd" "$work/$name/nstest-report.xml"; fi
  grep -q 'kernel_release' "$work/$name/nstest-report.xml"
  echo "container: $name: report written to the mounted folder"
}
run privileged --privileged
run capabilities --cap-add NET_ADMIN --cap-add SYS_ADMIN --cap-add NET_RAW \
  --security-opt unmask=/proc/sys
host_snapshot "$work/after"
host_compare "$work/before" "$work/after" || { echo "container: the host changed"; exit 1; }
echo "container: host untouched"
