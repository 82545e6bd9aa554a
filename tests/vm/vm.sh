#!/usr/bin/env bash
# Boots a stock Debian kernel under QEMU and runs a command inside it, chrooted
# into the host's filesystem (9p, read-only) in the caller's working directory.
# See tests/vm/README.md.
#
#   tests/vm/vm.sh fetch KERNEL            download, extract and inflate (cached)
#   tests/vm/vm.sh btf KERNEL              print the path of that kernel's vmlinux (with .BTF)
#   tests/vm/vm.sh run KERNEL -- CMD...    boot, run CMD, print its output, exit with its code
#
# KERNEL: 6.1 (the package linux-image-amd64 depends on), 6.12 (what
# linux-image-6.12-amd64 depends on, else the newest linux-image-6.12.*+deb12-amd64),
# or a full package name (linux-image-...-amd64).
#
# Environment:
#   VM_CACHE        cache folder (default $XDG_CACHE_HOME/rtrace-drop/vm if XDG_CACHE_HOME
#                   is set, else <repo>/build/vm)
#   VM_TIMEOUT      seconds for the whole VM, boot included (default 900)
#   VM_MEM          guest memory in MiB (default 2048)
#   VM_CPUS         guest CPUs (default: host CPUs, at most 4)
#   VM_ACCEL        kvm or tcg (default: kvm only if kvm_intel/kvm_amd is loaded)
#   VM_MODULES      modules loaded before the command (default: veth and netfilter, see below)
#   VM_MODULES_EXTRA  more modules, added to VM_MODULES
#   VM_ENV          names of more variables to pass to the command
#   VM_RW_DIRS      host folders to share read-write at the same path (the rest is read-only)
#   VM_VERBOSE=1    copy the guest console (kernel log) to stderr after the run
#   VM_APPEND       more kernel command line (e.g. loglevel=7 for a full boot log)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
VMTOOL="$HERE/vmtool.py"

if [[ -n "${VM_CACHE:-}" ]]; then CACHE=$VM_CACHE
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then CACHE=$XDG_CACHE_HOME/rtrace-drop/vm
else CACHE=$REPO/build/vm
fi

DEFAULT_MODULES="veth dummy x_tables ip_tables iptable_filter iptable_raw iptable_mangle iptable_nat
  ip6_tables ip6table_filter nf_tables nft_compat nft_chain_nat nft_ct nft_reject nft_reject_inet
  nft_reject_ipv4 nf_conntrack nf_nat xt_conntrack xt_state xt_tcpudp xt_comment xt_mark xt_multiport
  xt_addrtype xt_MASQUERADE xt_LOG ipt_REJECT ip6t_REJECT sch_netem sch_ingress cls_bpf act_bpf tun bonding"
MODULES="${VM_MODULES:-$DEFAULT_MODULES} ${VM_MODULES_EXTRA:-}"
PASS_ENV="RTRACE_DROP_REQUIRE_KERNEL ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS GTEST_FILTER GTEST_COLOR ${VM_ENV:-}"

die() { echo "vm.sh: $*" >&2; exit 125; }
say() { echo "vm.sh: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

need_tools() {
  command -v qemu-system-x86_64 >/dev/null ||
    die "qemu-system-x86_64 not found: install the Debian package qemu-system-x86 (apt-get install qemu-system-x86)"
  [[ -x /bin/busybox ]] && [[ $'\n'$(/bin/busybox --list 2>/dev/null)$'\n' == *$'\n'depmod$'\n'* ]] ||
    die "/bin/busybox not found (or without depmod): install the Debian package busybox-static"
  if ldd /bin/busybox >/dev/null 2>&1; then
    die "/bin/busybox is dynamically linked; the initramfs needs busybox-static (apt-get install busybox-static)"
  fi
  command -v python3 >/dev/null || die "python3 not found"
}

# --- kernel package resolution ------------------------------------------------

resolve_pkg() {  # KERNEL -> package name on stdout
  local k=$1 pkg=
  command -v apt-cache >/dev/null || { cached_pkg "$k"; return; }
  case $k in
    6.1)
      pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
            awk '/Depends: linux-image-6\.1\.[0-9]+-[0-9]+-amd64$/ && !n++ { print $2 }') ;;
    6.12)
      pkg=$(apt-cache depends linux-image-6.12-amd64 2>/dev/null |
            awk '/Depends: linux-image-6\.12\.[0-9]+\+deb12-amd64$/ && !n++ { print $2 }')
      if [[ -z $pkg ]]; then
        pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null |
              awk '{ print $1 }' | sort -V | tail -n1)
      fi ;;
    linux-image-*) pkg=$k ;;
    *) die "unknown KERNEL '$k': use 6.1, 6.12 or a linux-image-... package name" ;;
  esac
  if [[ -z $pkg ]]; then
    # Offline or no index: fall back to what was fetched last time.
    if cached_pkg "$k" 2>/dev/null; then return; fi
    case $k in
      6.12) die "no 6.12 kernel found: neither linux-image-6.12-amd64 nor linux-image-6.12.*+deb12-amd64 is known to apt (it comes from bookworm-security/bookworm main; run apt-get update)" ;;
      *) die "no kernel package found for KERNEL=$k (apt-cache depends linux-image-amd64 gave nothing; run apt-get update)" ;;
    esac
  fi
  echo "$pkg"
}

cached_pkg() {  # the package last fetched for KERNEL
  local link="$CACHE/$1"
  [[ -L $link && -f $link/.done ]] || { echo "vm.sh: no cached kernel for $1" >&2; return 1; }
  basename "$(readlink "$link")"
}

# --- fetch ----------------------------------------------------------------------

fetch() {  # KERNEL -> sets KDIR, KVER
  local k=$1 pkg
  pkg=$(resolve_pkg "$k")
  KDIR=$CACHE/$pkg
  # Tests run in parallel may fetch the same kernel at once: one fetches,
  # the others wait and find it done.
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.fetch.lock"
  flock 8
  if [[ ! -f $KDIR/.done ]]; then
    need_tools
    say "fetching $pkg into $KDIR"
    rm -rf "$KDIR.tmp"
    mkdir -p "$KDIR.tmp"
    (cd "$KDIR.tmp" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
    local debs=("$KDIR.tmp"/*.deb) deb
    deb=${debs[0]}
    if [[ ! -f $deb ]]; then
      rm -rf "$KDIR.tmp"
      die "could not download $pkg (apt-get download failed: no such package, or no network/apt index; try apt-get update)"
    fi
    dpkg -x "$deb" "$KDIR.tmp/root" || die "dpkg -x $deb failed"
    rm -f "$deb"
    local vmlinuzs=("$KDIR.tmp"/root/boot/vmlinuz-*) vmlinuz
    vmlinuz=${vmlinuzs[0]}
    [[ -f $vmlinuz ]] || die "$pkg has no /boot/vmlinuz-*"
    KVER=${vmlinuz##*/vmlinuz-}
    echo "$KVER" > "$KDIR.tmp/kver"
    ln -s "root/boot/vmlinuz-$KVER" "$KDIR.tmp/vmlinuz"
    if python3 "$VMTOOL" inflate "$vmlinuz" "$KDIR.tmp/vmlinux" >&2; then
      # Remembered here: reading 60 MB on each run costs time.
      python3 "$VMTOOL" elfinfo "$KDIR.tmp/vmlinux" > "$KDIR.tmp/vmlinux.info"
    else
      say "warning: could not inflate $vmlinuz: booting the compressed kernel, and no BTF file"
    fi
    # modules.dep, modules.alias for busybox modprobe (the .deb ships none: depmod runs at install)
    /bin/busybox depmod -b "$KDIR.tmp/root" "$KVER" || die "busybox depmod failed for $KVER"
    touch "$KDIR.tmp/.done"
    rm -rf "$KDIR"
    mv "$KDIR.tmp" "$KDIR"
  fi
  KVER=$(cat "$KDIR/kver")
  case $k in linux-image-*) ;; *) ln -sfn "$pkg" "$CACHE/$k.tmp" && mv -T "$CACHE/$k.tmp" "$CACHE/$k" ;; esac
  exec 8>&-
}

# --- initramfs ------------------------------------------------------------------

mod_files() {  # names... -> files (relative to lib/modules/KVER) in load order, deps first
  local mdir=$KDIR/root/lib/modules/$KVER
  python3 - "$mdir" "$@" <<'EOF'
import os, sys
mdir, names = sys.argv[1], sys.argv[2:]
dep, byname = {}, {}
def norm(p): return os.path.basename(p).split(".ko")[0].replace("-", "_")
for line in open(os.path.join(mdir, "modules.dep")):
    path, _, rest = line.partition(":")
    dep[path] = rest.split()
    byname[norm(path)] = path
builtin = {norm(l.strip()) for l in open(os.path.join(mdir, "modules.builtin"))}
out, seen = [], set()
def visit(p):
    if p in seen: return
    seen.add(p)
    for d in dep[p]: visit(d)
    out.append(p)
for n in names:
    n = n.replace("-", "_")
    if n in byname: visit(byname[n])
    elif n not in builtin: sys.exit(f"vm.sh: module {n} is neither in modules.dep nor built in")
print("\n".join(out))
EOF
}

build_initramfs() {  # -> sets INITRD
  INITRD=$KDIR/initramfs.cpio.gz
  if [[ -f $INITRD && $INITRD -nt $HERE/init.sh && $INITRD -nt $VMTOOL && $INITRD -nt $HERE/vm.sh ]]; then
    return
  fi
  local t=$KDIR/initramfs.tmp mdir=$KDIR/root/lib/modules/$KVER f
  rm -rf "$t"
  mkdir -p "$t"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,host,scratch,stage1,lib,tmp,run}
  cp /bin/busybox "$t/bin/busybox"
  cp "$HERE/init.sh" "$t/init"
  chmod 755 "$t/init"
  local files
  files=$(mod_files virtio_pci 9pnet_virtio 9p) || exit 125
  : > "$t/stage1.list"
  for f in $files; do
    local base=${f##*/}
    base=${base%%.ko*}.ko
    python3 "$VMTOOL" unko "$mdir/$f" "$t/stage1/$base" || die "cannot unpack $f"
    echo "$base" >> "$t/stage1.list"
  done
  python3 "$VMTOOL" cpio "$t" "$INITRD" || die "could not write the initramfs"
  rm -rf "$t"
}

# --- run ------------------------------------------------------------------------

accel_args() {
  local accel=${VM_ACCEL:-}
  if [[ -z $accel ]]; then
    if [[ -e /sys/module/kvm_intel || -e /sys/module/kvm_amd ]] && [[ -r /dev/kvm && -w /dev/kvm ]]; then
      accel=kvm
    else
      accel=tcg
    fi
  fi
  case $accel in
    kvm) echo "-accel kvm -cpu host" ;;
    tcg) echo "-accel tcg,thread=multi -cpu qemu64" ;;
    *) die "VM_ACCEL must be kvm or tcg" ;;
  esac
}

run() {  # KERNEL CMD...
  local k=$1; shift
  [[ $# -gt 0 ]] || die "run: no command (tests/vm/vm.sh run KERNEL -- CMD...)"
  need_tools
  fetch "$k"
  build_initramfs

  local cwd
  cwd=$(pwd -P)
  case $cwd/ in
    /run/*|/proc/*|/sys/*|/dev/*)
      die "the working directory $cwd is hidden in the guest (tmpfs/proc/sys there); run from elsewhere" ;;
  esac
  # The guest's /tmp is a fresh tmpfs; host folders below /tmp that the run
  # needs (a checkout there, as CI may use, and the cache) are bound back in.
  local keep_tmp='' d
  for d in "$cwd" "$REPO" "$(mkdir -p "$CACHE" && cd "$CACHE" && pwd -P)"; do
    case $d/ in /tmp/*) keep_tmp+="$d " ;; esac
  done

  local timeout=${VM_TIMEOUT:-900} accel
  accel=$(accel_args)

  mkdir -p "$CACHE/runs"
  local scratch
  scratch=$(mktemp -d "$CACHE/runs/run.XXXXXX")
  scratch=$(cd "$scratch" && pwd -P)
  RUN_SCRATCH=$scratch
  trap 'rm -rf "$RUN_SCRATCH"' EXIT
  mkdir -p "$scratch/cache"

  # The command, run by the host's bash inside the chroot.
  {
    echo "cd $(printf %q "$cwd") || exit 125"
    printf 'exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp'
    printf ' XDG_CACHE_HOME=%q TERM=dumb' "$scratch/cache"
    local v
    for v in $PASS_ENV; do
      [[ -n ${!v+x} ]] && printf ' %q' "$v=${!v}"
    done
    printf ' %q' "$@"
    echo
  } > "$scratch/cmd.sh"

  # Read by init.sh
  local rw_args=() rw_list='' i=0 d
  for d in ${VM_RW_DIRS:-}; do
    d=$(cd "$d" && pwd -P) || die "VM_RW_DIRS: no folder $d"
    rw_args+=(-virtfs "local,path=$d,mount_tag=rw$i,security_model=none,multidevs=remap")
    rw_list+="rw$i:$d "
    i=$((i + 1))
  done
  {
    echo "SCRATCH=$(printf %q "$scratch")"
    echo "KMODDIR=$(printf %q "$KDIR/root/lib/modules")"
    echo "MODULES=$(printf %q "$(tr -s ' \n\t' '   ' <<< "$MODULES")")"
    echo "RW_DIRS=$(printf %q "$rw_list")"
    echo "KEEP_TMP=$(printf %q "$keep_tmp")"
  } > "$scratch/vm.conf"

  local kernel=$KDIR/vmlinux
  if ! grep -qs 'pvh=1' "$KDIR/vmlinux.info"; then
    kernel=$KDIR/vmlinuz
  fi
  local cpus=${VM_CPUS:-$(nproc)}
  (( cpus > 4 && ${VM_CPUS:-0} == 0 )) && cpus=4
  # shellcheck disable=SC2046
  local qemu=(qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot
    $accel -m "${VM_MEM:-2048}" -smp "$cpus"
    -kernel "$kernel" -initrd "$INITRD"
    -append "console=ttyS0 rdinit=/init panic=-1 loglevel=4 mitigations=off ${VM_APPEND:-}"
    -serial "file:$scratch/console.log" -serial stdio
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=$scratch,mount_tag=scratch,security_model=none,multidevs=remap"
    "${rw_args[@]}")

  say "booting $(basename "$KDIR") ($(basename "$kernel"), $(awk '{print $2}' <<< "$accel"), ${cpus} CPUs, ${VM_MEM:-2048} MiB, timeout ${timeout}s)"
  local t0 qrc=0
  t0=$(now)
  # Wall time until the guest is ready to run the command.
  ( while [[ ! -e $scratch/ready ]]; do sleep 0.05; [[ -d $scratch ]] || exit 0; done
    elapsed "$t0" "$(now)" > "$scratch/boot-wall" ) &
  local watcher=$!
  timeout -k 10 "$timeout" "${qemu[@]}" < /dev/null || qrc=$?
  local t1
  t1=$(now)
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true

  if [[ ${VM_VERBOSE:-0} == 1 && -f $scratch/console.log ]]; then
    say "guest console:"; cat "$scratch/console.log" >&2
  fi
  if [[ $qrc == 124 || $qrc == 137 ]]; then
    save_console "$scratch"
    die "timeout: the VM ran longer than ${timeout}s (VM_TIMEOUT) and was killed; console log: $CACHE/last-console.log"
  fi
  if [[ ! -f $scratch/rc ]]; then
    save_console "$scratch"
    tail -n 30 "$CACHE/last-console.log" >&2 || true
    if [[ -f $scratch/ready ]]; then
      die "the guest stopped before the command finished (qemu exit $qrc); console log: $CACHE/last-console.log"
    fi
    die "the guest did not boot (qemu exit $qrc); console log: $CACHE/last-console.log"
  fi
  local rc
  rc=$(cat "$scratch/rc")
  local boot='?' total
  [[ -f $scratch/boot-wall ]] && boot=$(cat "$scratch/boot-wall")
  total=$(elapsed "$t0" "$t1")
  if [[ -f $scratch/ready ]]; then
    say "boot ${boot}s (guest uptime $(cat "$scratch/ready")s), command $(awk -v a="$total" -v b="$boot" 'BEGIN{ if (b == "?") print "?"; else printf "%.1f", a - b }')s, total ${total}s, exit $rc"
  fi
  [[ -s $scratch/init-warnings ]] && { say "guest warnings:"; sed 's/^/  /' "$scratch/init-warnings" >&2; }
  exit "$rc"
}

save_console() {
  cp "$1/console.log" "$CACHE/last-console.log" 2>/dev/null || : > "$CACHE/last-console.log"
}

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
cmd=$1; shift
case $cmd in
  fetch)
    [[ $# -eq 1 ]] || usage
    fetch "$1"
    build_initramfs
    echo "$KDIR" ;;
  btf)
    [[ $# -eq 1 ]] || usage
    fetch "$1"
    [[ -f $KDIR/vmlinux ]] && grep -qs 'btf=1' "$KDIR/vmlinux.info" ||
      die "$KDIR/vmlinux is missing or has no .BTF (could not inflate the kernel; zstd-compressed kernels need the zstd package)"
    # Through the KERNEL symlink: the same path after the ABI moves on.
    case $1 in linux-image-*) echo "$KDIR/vmlinux" ;; *) echo "$CACHE/$1/vmlinux" ;; esac ;;
  run)
    [[ $# -ge 1 ]] || usage
    k=$1; shift
    [[ ${1:-} == -- ]] && shift
    run "$k" "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
