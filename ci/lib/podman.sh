# Sourced by the CI scripts that build images with podman (no Docker engine needed).

# ensure_debian_base WORKDIR: makes localhost/debian:12, a Debian 12 (bookworm) minbase made with
# debootstrap, unless it exists. The mirror is $MIRROR, or the first Debian archive this machine's
# apt reads from (deb822 or one-line format).
ensure_debian_base() {
  local work=$1 mirror=${MIRROR:-}
  podman image exists localhost/debian:12 && return 0
  if [ -z "$mirror" ]; then
    mirror=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
      awk '/^URIs:/ && $2 !~ /security/ && !m {m = $2} END {print m}')
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' \
      /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || { echo "no Debian mirror in apt's sources; set MIRROR" >&2; return 2; }
  echo "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" > "$work/debootstrap.log" ||
    { tail -20 "$work/debootstrap.log"; return 1; }
  tar -C "$work/rootfs" -c . | podman import - localhost/debian:12 > /dev/null
  rm -rf "$work/rootfs"
}

# podman_run ARGS...: `podman run --rm` as these scripts need it. Always --network none: podman's
# default bridge network would add a bridge, firewall rules and ip_forward=1 to the host's
# namespace. Explicit ulimits: podman's defaults exceed the hard limits where root lacks
# CAP_SYS_RESOURCE, and runc refuses them.
podman_run() {
  podman run --rm --runtime runc --network none --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" \
    --ulimit nproc=4096:4096 "$@"
}

# podman_notices IMAGE: fails unless IMAGE's nstest links libnl's shared libraries (its LGPL asks
# more of a statically linked copy) and /usr/share/doc/nstest/third-party-notices holds the
# copyright files of toml++, CLI11 and pugixml, whose code the command carries.
podman_notices() {
  podman_run --entrypoint sh "$1" -c 'f=/usr/share/doc/nstest/third-party-notices &&
    ldd /usr/bin/nstest | grep -q "libnl-route-3\.so" &&
    grep -q "^==== toml++: " "$f" && grep -q "^==== CLI11: " "$f" &&
    grep -q "^==== pugixml: " "$f" && ! grep -q "^==== libnl" "$f" &&
    grep -q "Permission is hereby granted" "$f" && grep -q "Redistributions in binary form" "$f"' ||
    { echo "$1: nstest links libnl statically, or its third-party-notices are incomplete" >&2
      return 1; }
  echo "$1: libnl linked as shared libraries; third-party notices present"
}

# podman_suites WORK NAME IMAGE [PODMAN_RUN_ARGS...]: runs IMAGE's default command, which runs
# the bundled suites and writes /reports/nstest-report.xml, with WORK/NAME mounted on /reports.
# Fails unless the run passed and wrote a valid report that names the kernel.
podman_suites() {
  local work=$1 name=$2 image=$3 xsd=../shared/junit/xsd/jenkins-xunit-junit-10.xsd
  shift 3
  mkdir -p "$work/$name"
  podman_run "$@" -v "$work/$name:/reports" "$image" > "$work/$name.log" 2>&1 ||
    { tail -30 "$work/$name.log"; echo "$name: the run failed"; return 1; }
  tail -1 "$work/$name.log"
  [ -f "$work/$name/nstest-report.xml" ] || { echo "$name: no report"; return 1; }
  if [ -f "$xsd" ]; then xmllint --noout --schema "$xsd" "$work/$name/nstest-report.xml"; fi
  grep -q 'kernel_release' "$work/$name/nstest-report.xml"
  echo "$name: report written to the mounted folder"
}
