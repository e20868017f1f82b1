#!/usr/bin/env bash
# Installs everything nstest needs to build, test and run on Debian 12, by package name.
# Usage: ci/install-deps.sh        (as root; idempotent)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  # libraries
  libgtest-dev libgmock-dev
  libnl-3-dev libnl-route-3-dev libnl-idiag-3-dev libnl-nf-3-dev
  libboost-dev libboost-filesystem-dev
  libtomlplusplus-dev libpcap-dev libnftables-dev libnetfilter-queue-dev libnftnl-dev libmnl-dev libcli11-dev libfmt-dev
  libpugixml-dev zlib1g-dev
  libbenchmark-dev
  # tools the tests and the benchmark compare against
  iproute2 procps libxml2-utils nftables util-linux python3 python3-junitparser python3-yaml
)

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: must run as root (apt-get install)" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
