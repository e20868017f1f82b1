#!/usr/bin/env bash
# The kernel matrix: runs the bundled suites, and the seed tests where the build has them, on
# other kernels than the host's. For each Debian kernel package named (default: linux-image-amd64
# and linux-image-6.12-amd64, Debian 12's 6.1 and 6.12 series), it downloads the package with apt, builds an initramfs holding nstest,
# ss, busybox, the libraries they load (also those nstest loads only to capture or filter), the
# kernel modules the suites need (veth, tun, inet_diag,
# nftables, NFQUEUE, the qdiscs nstest probes, virtio) and the suites, boots it under qemu (KVM
# where /dev/kvm runs a guest, TCG otherwise) and brings the results out on a raw disk the guest
# writes a tar archive to. The report's kernel_release property must name the booted kernel, the
# report must validate against the schema like the main job's, and the guest must have every
# feature nstest probes. Nothing here touches the host's network: the guest has no network device.
#
# Usage: ci/kernel-matrix.sh [--slurm] [PACKAGE...]
#   --slurm            one kernel per task of a Slurm job array (sbatch --array --wait, on the
#                      cluster SLURM_CONF names), so a cluster boots the fleet in parallel; the
#                      comparison runs here once all tasks ended. NSTEST_MATRIX_DIR must be a
#                      folder every node sees.
#   NSTEST_BUILD_DIR   the build with framework/nstest (default build)
#   NSTEST_MATRIX_DIR  where kernels are cached and results written (default $build/kernel-matrix)
#   NSTEST_QEMU_ACCEL  kvm or tcg (default: kvm if /dev/kvm is writable, else tcg)
#   NSTEST_QEMU_TIMEOUT  seconds a guest may run (default 900)
#   NSTEST_QEMU_SMP    vCPUs (default 1 under TCG, 2 under KVM); NSTEST_QEMU_CPU (default qemu64)
# Writes $NSTEST_MATRIX_DIR/<release>/: nstest-report.xml, seeds-report.xml, run.log, seeds.log,
# doctor.txt, dmesg.txt, console.log and the exit statuses; host/ the same suites on this machine;
# compare-<a>-<b>.txt, `nstest compare` of each pair; kernel-differences.md, all side by side.
# Exits 0 when every kernel ran and passed, 1 when a suite failed there, 2 on a setup error.
set -euo pipefail
# Under pipefail a writer killed by SIGPIPE fails the script: every reader of a pipe reads to its end.
cd "$(dirname "$0")/.."
. ci/lib/packages.sh
mode=local
case "${1:-}" in
  --slurm) mode=slurm && shift ;;
  --slurm-task) mode=task && shift ;;
esac
build=${NSTEST_BUILD_DIR:-build}
matrix=${NSTEST_MATRIX_DIR:-$build/kernel-matrix}
timeout_s=${NSTEST_QEMU_TIMEOUT:-900}
[ $# -gt 0 ] || set -- linux-image-amd64 linux-image-6.12-amd64
ensure_packages qemu-system-x86 busybox-static cpio iproute2 xz-utils binutils || exit 2
[ -x "$build/framework/nstest" ] || ci/build.sh
mkdir -p "$matrix/cache"
matrix=$(realpath "$matrix")
nstest=$(realpath "$build/framework/nstest")
seeds=$(realpath -m "$build/framework/nstest_seed_tests")
xsd=$(realpath -m ../shared/junit/xsd/jenkins-xunit-junit-10.xsd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Modules loaded at boot, in order; anything else the suites reach (nft expressions, conntrack) is
# autoloaded from the subtrees copied below. crc32c first: libcrc32c (which nf_tables needs) asks
# the crypto API for it when it loads, a soft dependency that busybox's modprobe does not follow.
preload=(crc32c_generic veth tun inet_diag tcp_diag udp_diag nf_tables nft_queue nfnetlink_queue
  nft_compat xt_NFQUEUE sch_netem act_gact virtio_pci virtio_blk)
subtrees=(kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter kernel/net/sched
  kernel/drivers/net/veth.ko kernel/drivers/net/tun.ko kernel/drivers/virtio
  kernel/drivers/block/virtio_blk.ko kernel/net/ipv4/inet_diag.ko kernel/net/ipv4/tcp_diag.ko
  kernel/net/ipv4/udp_diag.ko kernel/crypto/crc32c_generic.ko)

# KVM where /dev/kvm is usable, else TCG. The CPU model is QEMU's plain one: nested hosts refuse
# some MSRs of -cpu host and -cpu max under KVM.
accel=${NSTEST_QEMU_ACCEL:-}
[ -n "$accel" ] || { [ -w /dev/kvm ] && accel=kvm || accel=tcg; }
# One vCPU under TCG: with two, Debian's 6.1.0-56 guest locked up in 5 of 11 boots here (a soft
# lockup in ip_local_deliver under process_backlog, on both CPUs, seconds into the run); with one,
# in none of 3.
cpu_of() { echo "${NSTEST_QEMU_CPU:-qemu64}"; }
smp_of() { [ "$1" = kvm ] && echo "${NSTEST_QEMU_SMP:-2}" || echo "${NSTEST_QEMU_SMP:-1}"; }

# The package's files, extracted once per version into the cache.
fetch_kernel() {
  local pkg=$1 dir deb real
  # A metapackage (linux-image-amd64) names the versioned image package it depends on.
  real=$(apt-cache depends "$pkg" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ && !r {r = $2} END {print r}')
  [ -n "$real" ] || real=$pkg
  dir="$matrix/cache/$real"
  if [ ! -d "$dir/root" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && apt-get download "$real" > download.log 2>&1) ||
      { apt-get update -q > /dev/null &&
        (cd "$dir" && apt-get download "$real" > download.log 2>&1); } ||
      { cat "$dir/download.log" >&2; echo "kernel-matrix: cannot download $real" >&2; return 2; }
    deb=$(ls "$dir"/*.deb)
    dpkg-deb -x "$deb" "$dir/root.tmp"
    # Newer packages (6.12) ship their modules xz-compressed, which busybox's modprobe does not
    # read: decompress them and let depmod index the tree again.
    if [ -n "$(find "$dir/root.tmp/lib/modules" -name '*.ko.xz' -print -quit)" ]; then
      find "$dir/root.tmp/lib/modules" -name '*.ko.xz' -exec xz -d {} +
      rm -f "$dir"/root.tmp/lib/modules/*/modules.dep
    fi
    mv "$dir/root.tmp" "$dir/root"
    rm -f "$deb"
  fi
  echo "$dir"
}

# copy_elf ROOT FILE DEST: FILE at DEST under ROOT, with every library the loader maps for it at
# the path ldd shows.
copy_elf() {
  local root=$1 file=$2 dest=$3 lib
  install -D -m 0755 "$file" "$root$dest"
  for lib in $(ldd "$file" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(realpath "$lib")" "$root$lib"
  done
}

# copy_loaded ROOT: the libraries nstest loads with dlopen() when a case captures or filters
# packets (framework/src/loaded_libs.h), which ldd does not show, with the libraries they load;
# their file names are the ones the nstest binary holds.
copy_loaded() {
  local root=$1 soname path
  for soname in $(strings "$nstest" | grep -E '^lib(pcap|nftables|netfilter_queue|nftnl|mnl)\.so\.[0-9.]+$' | sort -u); do
    path=$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64/ && !p {p = $NF} END {print p}')
    [ -n "$path" ] || { echo "kernel-matrix: $soname, which nstest loads, is not installed" >&2; exit 1; }
    copy_elf "$root" "$path" "$path"
  done
}

make_initramfs() {
  local kroot=$1 release=$2 out=$3 root="$work/initramfs" m
  rm -rf "$root"
  # Debian's merged /usr layout, so that libraries land where ldd saw them.
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{proc,sys,dev,tmp,run,out,etc}
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  copy_elf "$root" "$nstest" /usr/bin/nstest
  copy_loaded "$root"
  copy_elf "$root" "$(command -v ss)" /usr/bin/ss
  [ ! -x "$seeds" ] || copy_elf "$root" "$seeds" /usr/bin/nstest_seed_tests
  install -m 0755 /bin/busybox "$root/usr/bin/busybox"
  for m in $(busybox --list); do
    [ -e "$root/usr/bin/$m" ] || ln -s busybox "$root/usr/bin/$m"
  done
  ln -s ../bin/busybox "$root/usr/sbin/modprobe"
  cp -r suites "$root/suites"
  echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
  echo "root:x:0:" > "$root/etc/group"
  local mods="$root/lib/modules/$release"
  mkdir -p "$mods"
  for m in "${subtrees[@]}"; do
    [ -e "$kroot/lib/modules/$release/$m" ] || continue
    mkdir -p "$mods/$(dirname "$m")"
    cp -r "$kroot/lib/modules/$release/$m" "$mods/$(dirname "$m")/"
  done
  # Whatever those need from elsewhere in the tree (libcrc32c, ...), as modules.dep lists it.
  local dep
  while read -r dep; do
    [ -e "$mods/$dep" ] || install -D -m 0644 "$kroot/lib/modules/$release/$dep" "$mods/$dep"
  done < <((cd "$mods" && find . -name '*.ko' | sed 's|^\./||') |
    awk -F': *' 'NR == FNR {have[$1 ":"] = 1; next} ($1 ":") in have {print $2}' \
      - "$kroot/lib/modules/$release/modules.dep" | tr ' ' '\n' | sed '/^$/d' | sort -u)
  cp "$kroot/lib/modules/$release"/modules.{builtin,order} "$mods/" 2> /dev/null || true
  busybox depmod -b "$root" "$release"
  printf '%s\n' "${preload[@]}" > "$root/etc/nstest-modules"
  install -m 0755 ci/lib/kernel-matrix-init.sh "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
  rm -rf "$root"
}

# boot ACCEL: boots $kroot's kernel with $out/initramfs.gz; true once the guest's results are
# unpacked into $out. The guest's /init says "booted" at once; a guest that has not said it
# within a minute under KVM is stopped (some nested hosts start a KVM guest but never run it).
# A soft lockup panics the guest kernel (softlockup_panic=1), which then ends at once.
boot() {
  local start qemu i
  truncate -s 0 "$out/results.img" "$out/console.log"
  truncate -s 256M "$out/results.img"
  start=$(date +%s)
  timeout "$timeout_s" qemu-system-x86_64 -accel "$1" -cpu "$(cpu_of "$1")" -smp "$(smp_of "$1")" -m 2048 \
    -kernel "$kroot/boot/vmlinuz-$release" -initrd "$out/initramfs.gz" \
    -append "console=ttyS0 panic=-1 loglevel=5 softlockup_panic=1" -display none -monitor none -no-reboot \
    -nic none -serial "file:$out/console.log" \
    -drive "file=$out/results.img,format=raw,if=virtio" < /dev/null 2> "$out/qemu.log" &
  qemu=$!
  if [ "$1" = kvm ]; then
    for ((i = 0; i < 60; ++i)); do
      grep -q "kernel-matrix: booted" "$out/console.log" && break
      kill -0 $qemu 2> /dev/null || break
      sleep 1
    done
    grep -q "kernel-matrix: booted" "$out/console.log" || kill $qemu 2> /dev/null || true
  fi
  wait $qemu || true
  echo "kernel-matrix: $release: the guest ran $(($(date +%s) - start)) s under $1"
  tar -xf "$out/results.img" -C "$out" 2> /dev/null && [ -f "$out/status" ]
}

# run_kernel PACKAGE: boots its kernel with the suites and checks what the guest brought out;
# adds its report to `reports` and raises `overall` (1 a suite failed, 2 a setup error).
run_kernel() {
  local pkg=$1 kdir lockups status report
  kdir=$(fetch_kernel "$pkg") || { overall=2; return; }
  kroot="$kdir/root"
  release=$(ls "$kroot/lib/modules" | sed -n 1p)
  [ -f "$kroot/lib/modules/$release/modules.dep" ] || busybox depmod -b "$kroot" "$release"
  out="$matrix/$release"
  rm -rf "$out" && mkdir -p "$out"
  make_initramfs "$kroot" "$release" "$out/initramfs.gz"
  echo "kernel-matrix: $release under qemu ($accel)," \
    "initramfs $(du -h "$out/initramfs.gz" | cut -f1)"
  # A boot whose kernel locked up (see smp_of) is reported with its trace and repeated, at most
  # three times in all.
  lockups=0
  while ! boot "$accel"; do
    if [ "$accel" = kvm ] && ! grep -q "kernel-matrix: booted" "$out/console.log"; then
      echo "kernel-matrix: nothing under KVM; now TCG"
      accel=tcg
    elif grep -q "soft lockup" "$out/console.log" && [ $((++lockups)) -lt 3 ]; then
      cp "$out/console.log" "$out/console-lockup-$lockups.log"
      echo "kernel-matrix: $release: the guest kernel locked up; booting it again. Its trace:"
      grep -m1 "soft lockup" "$out/console.log"
      grep -m1 "RIP:" "$out/console.log" || true
      grep -m1 -A16 "Call Trace:" "$out/console.log" | grep -v "^\[ *[0-9.]*\]  ? " || true
    else
      tail -n 40 "$out/console.log" "$out/qemu.log"
      echo "kernel-matrix: $release: the guest wrote no results"
      overall=2
      return
    fi
  done
  [ $lockups = 0 ] || echo "kernel-matrix: $release: $lockups boot(s) locked up before this one"
  rm -f "$out/results.img" "$out/initramfs.gz"
  status=$(cat "$out/status")
  tail -n 4 "$out/run.log"
  report="$out/nstest-report.xml"
  if [ ! -f "$report" ]; then
    echo "kernel-matrix: $release: no report"
    overall=2
    return
  fi
  [ -f "$xsd" ] && { xmllint --noout --schema "$xsd" "$report" || overall=1; }
  if ! grep -q "name=\"kernel_release\" value=\"$release\"" "$report"; then
    echo "kernel-matrix: $release: the report does not name the kernel it ran on"
    overall=1
  fi
  # The guest is built to have every feature nstest probes: a case skipped for want of one would
  # hide what this kernel does.
  if grep -E '^[a-z_]+ +NO' "$out/doctor.txt"; then
    echo "kernel-matrix: $release: the guest lacks the features above (see $out/dmesg.txt)"
    overall=1
  fi
  echo "kernel-matrix: $release: nstest exit $status; report in $report"
  reports+=("$report")
  [ "$status" = 0 ] || [ $overall = 2 ] || overall=1
  if [ -f "$out/seeds-status" ]; then
    # Each skipped or failed seed test once, with its reason.
    grep -B1 -E '^\[  (SKIPPED|FAILED) *\] [A-Z].* \([0-9]+ ms\)' "$out/seeds.log" || true
    tail -n 3 "$out/seeds.log"
    echo "kernel-matrix: $release: seed tests exit $(cat "$out/seeds-status");" \
      "report in $out/seeds-report.xml"
    [ "$(cat "$out/seeds-status")" = 0 ] || [ $overall = 2 ] || overall=1
  fi
}

overall=0
reports=()
case $mode in
  task)
    # One array task of --slurm: the kernel of this task's index.
    pkgs=("$@")
    run_kernel "${pkgs[$SLURM_ARRAY_TASK_ID]}"
    [ ${#reports[@]} = 0 ] || echo "${reports[0]}" > "$matrix/tasks/$SLURM_ARRAY_TASK_ID.report"
    exit $overall
    ;;
  slurm)
    # One kernel per task of a Slurm job array; this script waits for them, then compares.
    rm -rf "$matrix/tasks" && mkdir -p "$matrix/tasks"
    # The kernels are fetched here, one after the other: tasks running apt-get at once on one
    # node would meet dpkg's lock.
    for pkg in "$@"; do fetch_kernel "$pkg" > /dev/null || exit 2; done
    wrap="NSTEST_MATRIX_DIR=$(printf %q "$matrix") NSTEST_BUILD_DIR=$(printf %q "$build")"
    wrap+=" ci/kernel-matrix.sh --slurm-task$(printf ' %q' "$@")"
    sbatch --wait --quiet --array=0-$(($# - 1)) --chdir="$PWD" --job-name=nstest-kernels \
      --output="$matrix/tasks/%a.log" --wrap "$wrap" || overall=1
    for ((i = 0; i < $#; i++)); do
      cat "$matrix/tasks/$i.log" 2> /dev/null || true
      if [ -f "$matrix/tasks/$i.report" ]; then
        reports+=("$(cat "$matrix/tasks/$i.report")")
      else
        echo "kernel-matrix: array task $i gave no report"
        overall=2
      fi
    done
    ;;
  *)
    for pkg in "$@"; do run_kernel "$pkg"; done
    ;;
esac

# What differs between the kernels, as `nstest compare` says it: each guest against the next and
# against this machine's own kernel, and all of them side by side (kernel-differences.md, the
# source of the table in docs/kernels.md).
if [ ${#reports[@]} -gt 0 ]; then
  host="$matrix/host"
  rm -rf "$host" && mkdir -p "$host"
  "$nstest" run suites -j 8 --cost-file none --xml "$host/nstest-report.xml" > "$host/run.log" 2>&1 ||
    echo "kernel-matrix: this machine's own run failed: $(tail -n 1 "$host/run.log")"
  [ -f "$host/nstest-report.xml" ] && reports+=("$host/nstest-report.xml")
  name_of() { basename "$(dirname "$1")"; }
  for ((i = 0; i + 1 < ${#reports[@]}; i++)); do
    for ((j = i + 1; j < ${#reports[@]}; j++)); do
      a=${reports[$i]} b=${reports[$j]}
      out="$matrix/compare-$(name_of "$a")-$(name_of "$b").txt"
      "$nstest" compare "$a" "$b" > "$out" 2>&1 || true
      echo "kernel-matrix: $(name_of "$a") -> $(name_of "$b"): $(tail -n 1 "$out") ($out)"
    done
  done
  "$nstest" compare --table "${reports[@]}" > "$matrix/kernel-differences.md" 2>&1 || true
  echo "kernel-matrix: the kernels side by side ($matrix/kernel-differences.md):"
  cat "$matrix/kernel-differences.md"
fi
exit $overall
