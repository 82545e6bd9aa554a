#!/bin/busybox sh
# /init of the guest's initramfs (tests/vm/vm.sh). Mounts the host's / (read-only)
# and the scratch folder over 9p, prepares proc/sys/tracefs/bpffs/dev/tmp/run in
# the host tree, loads modules, runs $SCRATCH/cmd.sh chrooted into the host tree
# with its output on the second serial port, writes its exit code to the
# scratch folder and powers off.
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

warn() { echo "vm-init: $*"; [ -d /scratch/cache ] && echo "$*" >> /scratch/init-warnings; }
fatal() { echo "vm-init: FATAL: $*"; echo 1 > /proc/sys/kernel/sysrq; echo o > /proc/sysrq-trigger; poweroff -f; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in $(cat /stage1.list); do
  insmod "/stage1/$m" || echo "vm-init: insmod $m failed"
done

P9="trans=virtio,version=9p2000.L,msize=262144"
mount -t 9p -o "$P9,cache=none" scratch /scratch || fatal "cannot mount the scratch folder"
. /scratch/vm.conf
# The host tree does not change while the guest runs: cache it (process start, libraries).
mount -t 9p -o "$P9,ro,cache=loose" hostroot /host || fatal "cannot mount the host's /"

H=/host
mount -t proc proc $H/proc || fatal "mount proc"
mount -t sysfs sysfs $H/sys || fatal "mount sysfs"
mount -t devtmpfs devtmpfs $H/dev || fatal "mount devtmpfs"
mkdir -p $H/dev/pts $H/dev/shm
mount -t devpts devpts $H/dev/pts
mount -t tmpfs tmpfs $H/dev/shm
mount -t tracefs tracefs $H/sys/kernel/tracing || warn "no tracefs"
mount -t debugfs debugfs $H/sys/kernel/debug || warn "no debugfs"
mount -t bpf bpf $H/sys/fs/bpf || warn "no bpffs"
mount -t cgroup2 cgroup2 $H/sys/fs/cgroup || warn "no cgroup2"
if [ -n "$KEEP_TMP" ]; then  # the host's /tmp, before the tmpfs hides it
  mkdir -p /hosttmp
  mount --bind $H/tmp /hosttmp || fatal "bind the host's /tmp"
fi
mount -t tmpfs -o mode=1777 tmpfs $H/tmp || fatal "mount /tmp"
for keep in $KEEP_TMP; do
  mkdir -p "$H$keep"
  mount --bind "/hosttmp${keep#/tmp}" "$H$keep" || warn "cannot bind $keep"
done
mount -t tmpfs -o mode=755 tmpfs $H/run || fatal "mount /run"
mkdir -p $H/run/netns $H/run/lock
mkdir -p "$H$SCRATCH"
mount --bind /scratch "$H$SCRATCH" || fatal "bind the scratch folder"
for rw in $RW_DIRS; do
  tag=${rw%%:*} dir=${rw#*:}
  mkdir -p "$H$dir"
  mount -t 9p -o "$P9,cache=none" "$tag" "$H$dir" || warn "cannot mount $dir read-write"
done

# Modules: the .deb's tree on the host, also for the kernel's own requests (/sbin/modprobe here).
ln -s "$H$KMODDIR" /lib/modules
for m in $MODULES; do
  modprobe "$m" 2>/dev/null ||
    grep -q "/$m.ko" "/lib/modules/$(uname -r)/modules.builtin" ||
    warn "modprobe $m failed"
done

ip link set lo up
hostname vm 2>/dev/null

stty -F /dev/ttyS1 raw -echo 2>/dev/null
cut -d' ' -f1 /proc/uptime > /scratch/ready
# Through a pipe, as under CI: the command's output is not a terminal.
{ chroot $H /bin/bash "$SCRATCH/cmd.sh" < /dev/null 2>&1; echo $? > /scratch/rc; } | cat > /dev/ttyS1
sync
poweroff -f
