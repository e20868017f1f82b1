#!/bin/sh
# /init of the kernel matrix's initramfs (ci/kernel-matrix.sh): loads the modules, runs the bundled
# suites with a JUnit report, writes the results as a tar archive to the raw disk /dev/vda and
# powers off. Everything it prints goes to the serial console, which the host keeps.
export PATH=/usr/bin:/usr/sbin HOME=/ TERM=dumb
mount -t proc proc /proc
echo "kernel-matrix: booted $(uname -r)"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /out
echo /usr/sbin/modprobe > /proc/sys/kernel/modprobe
for m in $(cat /etc/nstest-modules); do
  modprobe "$m" || echo "kernel-matrix: module $m did not load"
done
ulimit -n 65536
cd /out
uname -r > kernel_release
nstest doctor > doctor.txt 2>&1
# Also on the console, so that the host sees which cases ran should the guest never finish. One
# case a core: under emulation the guest's timers are what the suites measure, and its idle time
# (what -j auto goes by) says little about how late they would fire.
{
  nstest run /suites -j "$(nproc)" --xml /out/nstest-report.xml --cost-file none --artifacts /out/artifacts
  echo $? > status
} 2>&1 | tee run.log
# The seed behaviours too, where the build has them.
if [ -x /usr/bin/nstest_seed_tests ]; then
  {
    nstest_seed_tests --gtest_output=xml:/out/seeds-report.xml
    echo $? > seeds-status
  } 2>&1 | tee seeds.log
fi
# The disk appears once virtio_blk has probed it.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do
  sleep 0.1
  i=$((i + 1))
done
dmesg > dmesg.txt
tar -cf /dev/vda .
sync
poweroff -f
