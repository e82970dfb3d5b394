#!/usr/bin/env bash
# Builds a tiny bootable test guest for real libvirt tests (direct kernel boot):
#   vmlinuz      Debian cloud kernel, taken from linux-image-*-cloud-amd64 via
#                `apt-get download` + `dpkg -x` (nothing is installed)
#   initrd.img   busybox-static initramfs (cpio newc + gzip); its /init mounts
#                proc/sys/dev, loads virtio + ACPI button modules, starts busybox
#                acpid (ACPI power button -> poweroff -f, so `virsh shutdown`
#                works), starts the QEMU guest agent (qemu-ga from Debian's
#                qemu-guest-agent, with the host's copies of its libraries, on the
#                org.qemu.guest_agent.0 port when the domain has one; its
#                guest-set-user-password runs the chpasswd below, since
#                busybox-static has none), prints the cloud-init seed (a vfat disk
#                labelled CIDATA) when it has one, then marker + facts to the
#                console, then stays alive
#   base.qcow2   small blank qcow2, meant as a backing file for per-test overlays
#
# Everything is cached OUTSIDE the repo in ${DBC_TEST_IMAGE_DIR:-/var/cache/dbc-test-images}
# and rebuilt only when missing or when this script changed. Only Debian's apt
# mirror is needed. Files are world-readable and the dir world-traversable so
# the libvirt-qemu user can read them.
#
# Console lines printed by the guest (kernel cmdline must contain console=ttyS0):
#   DBC-TEST-SEED-FOUND dev=<name>                   (a disk labelled CIDATA, mounted read-only)
#   DBC-TEST-SEED-FILE <name>                        (one per file on it, long names)
#   DBC-TEST-SEED-META <line>                        (each line of its meta-data)
#   DBC-TEST-SEED <line>                             (each line of its user-data)
#   DBC-TEST-SEED-END                                (the five only with a seed disk)
#   DBC-TEST-GUEST-BOOTED
#   DBC-TEST-FACT nproc=<n>
#   DBC-TEST-FACT memtotal_kb=<kB>
#   DBC-TEST-FACT agent=<vportNpM|none>              (the guest agent's port, when it has one)
#   DBC-TEST-FACT blockdev=<name> size_kb=<kB>      (one per /proc/partitions entry)
#   DBC-TEST-GUEST-READY
#   DBC-TEST-SHADOW <user>:<hash>:...               (each /etc/shadow line, whenever it changes
#                                                    after READY: users root and dbc)
#   <what the user-data script prints>               (user-data starting with #! is run after
#   DBC-TEST-USER-SCRIPT exit=<status>                READY, as cloud-init runs such user-data)
#   DBC-TEST-GUEST-POWEROFF                          (on ACPI power button)
#
# stdout (only): KEY=VALUE lines
#   DBC_TEST_KERNEL= DBC_TEST_INITRD= DBC_TEST_BASE_DISK= DBC_TEST_KERNEL_VERSION=
#   DBC_TEST_CMDLINE= DBC_TEST_MARKER=
# Env: DBC_TEST_IMAGE_DIR, DBC_TEST_KERNEL_PKG (e.g. linux-image-6.1.0-56-cloud-amd64),
#      DBC_TEST_BASE_DISK_SIZE (default 64M), DBC_TEST_IMAGE_REBUILD=1 (force)
set -euo pipefail

CACHE_DIR="${DBC_TEST_IMAGE_DIR:-/var/cache/dbc-test-images}"
DISK_SIZE="${DBC_TEST_BASE_DISK_SIZE:-64M}"
MARKER="DBC-TEST-GUEST-BOOTED"
CMDLINE="console=ttyS0"
# Loaded in this order by /init (no depmod in the guest).
MODULES=(
  drivers/virtio/virtio_ring drivers/virtio/virtio
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev
  drivers/virtio/virtio_pci drivers/block/virtio_blk
  net/core/failover drivers/net/net_failover drivers/net/virtio_net
  drivers/input/evdev drivers/acpi/button
  # the guest agent's virtio-serial port
  drivers/char/virtio_console
  # the cloud-init seed disk: vfat with long names; codepage 437 and iocharset ascii are the
  # kernel's defaults for vfat mounts
  fs/fat/fat fs/fat/vfat fs/nls/nls_cp437 fs/nls/nls_ascii
)

log() { echo "[build_test_vm_image] $*" >&2; }
die() {
  echo "[build_test_vm_image] ERROR: $*" >&2
  exit 1
}

KERNEL="$CACHE_DIR/vmlinuz"
INITRD="$CACHE_DIR/initrd.img"
BASE_DISK="$CACHE_DIR/base.qcow2"
STAMP="$CACHE_DIR/.complete"
# Cache key: this script's content + requested disk size.
KEY="$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-16)-$DISK_SIZE"

print_result() {
  echo "DBC_TEST_KERNEL=$KERNEL"
  echo "DBC_TEST_INITRD=$INITRD"
  echo "DBC_TEST_BASE_DISK=$BASE_DISK"
  echo "DBC_TEST_KERNEL_VERSION=$(sed -n 's/^kernel_version=//p' "$STAMP")"
  echo "DBC_TEST_CMDLINE=$CMDLINE"
  echo "DBC_TEST_MARKER=$MARKER"
}

cache_complete() {
  [[ "${DBC_TEST_IMAGE_REBUILD:-0}" != 1 && -s "$KERNEL" && -s "$INITRD" && -s "$BASE_DISK" &&
    -f "$STAMP" ]] && grep -qx "key=$KEY" "$STAMP"
}

# Fast path without taking the lock.
if cache_complete; then
  log "cache complete in $CACHE_DIR"
  print_result
  exit 0
fi

mkdir -p "$CACHE_DIR" || die "cannot create $CACHE_DIR (run as root or set DBC_TEST_IMAGE_DIR)"
chmod 0755 "$CACHE_DIR" 2>/dev/null || true
# Serialize concurrent builders.
exec 9>"$CACHE_DIR/.lock"
flock -w 600 9 || die "timeout waiting for lock $CACHE_DIR/.lock"
if cache_complete; then
  log "cache completed by another process"
  print_result
  exit 0
fi

# ------------------------------------------------------------ prerequisites
need_pkgs=()
# The guest has no libc: the busybox binary must be the static one.
[[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" == "install ok installed" ]] ||
  need_pkgs+=(busybox-static)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v qemu-img >/dev/null || need_pkgs+=(qemu-utils)
if ((${#need_pkgs[@]})); then
  [[ "$(id -u)" -eq 0 ]] || die "missing packages ${need_pkgs[*]} (run scripts/system/libvirt_setup.sh as root)"
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null || die "apt-get update failed"
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
    die "apt-get install ${need_pkgs[*]} failed"
fi
BUSYBOX=/bin/busybox
[[ -x "$BUSYBOX" ]] || die "$BUSYBOX not found"
# (no `| grep -q` under pipefail: an early grep exit would SIGPIPE the writer)
"$BUSYBOX" --list | grep -x acpid >/dev/null || die "$BUSYBOX has no acpid applet"

WORK="$(mktemp -d "$CACHE_DIR/.build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
chmod 0755 "$WORK"

# ------------------------------------------------------------------ kernel
resolve_kernel_pkg() {
  { apt-cache depends linux-image-cloud-amd64 2>/dev/null || true; } |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ && !n++ { print $2 }'
}
KPKG="${DBC_TEST_KERNEL_PKG:-}"
if [[ -z "$KPKG" ]]; then
  KPKG="$(resolve_kernel_pkg)"
  if [[ -z "$KPKG" && "$(id -u)" -eq 0 ]]; then
    log "apt lists lack linux-image-cloud-amd64; running apt-get update"
    apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null || die "apt-get update failed"
    KPKG="$(resolve_kernel_pkg)"
  fi
  [[ -n "$KPKG" ]] || die "cannot resolve linux-image-cloud-amd64 to a kernel package (set DBC_TEST_KERNEL_PKG)"
fi
log "downloading $KPKG"
(
  cd "$WORK"
  # _apt cannot write to our build dir; download as root/current user quietly.
  apt-get -q -o APT::Sandbox::User="$(id -un)" download "$KPKG" >/dev/null
) || die "apt-get download $KPKG failed"
debs=("$WORK"/*.deb)
deb="${debs[0]}"
[[ -f "$deb" ]] || die "no .deb downloaded for $KPKG"
mkdir "$WORK/k"
dpkg -x "$deb" "$WORK/k" || die "dpkg -x $deb failed"
kernels=("$WORK"/k/boot/vmlinuz-*)
vmlinuz="${kernels[0]}"
[[ -f "$vmlinuz" ]] || die "no /boot/vmlinuz-* in $deb"
KVER="${vmlinuz##*/vmlinuz-}"
MODDIR="$WORK/k/lib/modules/$KVER/kernel"
[[ -d "$MODDIR" ]] || MODDIR="$WORK/k/usr/lib/modules/$KVER/kernel"
[[ -d "$MODDIR" ]] || die "no modules dir for $KVER in $deb"

# ------------------------------------------------------------- guest agent
log "downloading qemu-guest-agent"
(
  cd "$WORK"
  apt-get -q -o APT::Sandbox::User="$(id -un)" download qemu-guest-agent >/dev/null
) || die "apt-get download qemu-guest-agent failed"
ga_debs=("$WORK"/qemu-guest-agent_*.deb)
mkdir "$WORK/ga"
dpkg -x "${ga_debs[0]}" "$WORK/ga" || die "dpkg -x ${ga_debs[0]} failed"
QEMU_GA="$WORK/ga/usr/sbin/qemu-ga"
[[ -x "$QEMU_GA" ]] || die "no usr/sbin/qemu-ga in ${ga_debs[0]}"

# --------------------------------------------------------------- initramfs
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc/acpi/PWRF,lib/modules}
# qemu-ga is dynamic: the host's copies of its libraries (and the loader) go along.
cp "$QEMU_GA" "$R/usr/sbin/qemu-ga"
if ldd "$QEMU_GA" | grep 'not found' >/dev/null; then
  die "qemu-ga needs libraries this host lacks: $(ldd "$QEMU_GA" | grep 'not found' | tr '\n' ' ')"
fi
for lib in $(ldd "$QEMU_GA" | grep -o '/[^ ]*'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\ndbc:x:1000:1000:dbc:/home/dbc:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\ndbc:x:1000:\n' >"$R/etc/group"
printf 'root:*:19000:0:99999:7:::\ndbc:!:19000:0:99999:7:::\n' >"$R/etc/shadow"
chmod 0600 "$R/etc/shadow"
# What qemu-ga's guest-set-user-password runs: `chpasswd [-e]`, "user:password" lines on stdin.
cat >"$R/usr/sbin/chpasswd" <<'CHPASSWD'
#!/bin/sh
crypted=0
[ "$1" = "-e" ] && crypted=1
while IFS= read -r line; do
  user=${line%%:*}
  pass=${line#*:}
  grep -q "^$user:" /etc/shadow || { echo "chpasswd: no user $user" >&2; exit 1; }
  if [ "$crypted" = 1 ]; then
    hash=$pass
  else
    hash=$(printf '%s\n' "$pass" | mkpasswd -m sha512 -P 0) || exit 1
  fi
  awk -F: -v OFS=: -v u="$user" -v h="$hash" '$1 == u { $2 = h } { print }' /etc/shadow \
    >/etc/shadow.new && mv /etc/shadow.new /etc/shadow || exit 1
done
CHPASSWD
chmod 0755 "$R/usr/sbin/chpasswd"
cp "$BUSYBOX" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
modlist=""
for m in "${MODULES[@]}"; do
  src="$MODDIR/$m.ko"
  if [[ ! -f "$src" ]]; then
    compressed=("$MODDIR/$m".ko.*)
    src="${compressed[0]}"
  fi
  if [[ ! -f "$src" ]]; then
    log "warning: module $m not found (built-in?), skipping"
    continue
  fi
  [[ "$src" == *.ko ]] || die "compressed module $src not supported by busybox insmod"
  cp "$src" "$R/lib/modules/"
  modlist+="${m##*/} "
done

cat >"$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "DBC-TEST-GUEST-POWEROFF" >/dev/console
sync
poweroff -f
EOF
chmod 0755 "$R/etc/acpi/PWRF/00000080"

cat >"$R/init" <<EOF
#!/bin/sh
# dbc test guest init (busybox); kernel $KVER
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /tmp
for m in $modlist; do insmod /lib/modules/\$m.ko 2>/dev/null; done
# give virtio_blk a moment to register disks
i=0; while [ \$i -lt 20 ] && ! grep -q ' vd[a-z]\$' /proc/partitions; do sleep 0.1; i=\$((i+1)); done
# the seed first: tests count on READY coming right after the marker
seed=\$(findfs LABEL=CIDATA 2>/dev/null)
if [ -n "\$seed" ] && mkdir -p /seed && mount -t vfat -o ro "\$seed" /seed; then
  echo "DBC-TEST-SEED-FOUND dev=\${seed##*/}"
  for f in /seed/*; do echo "DBC-TEST-SEED-FILE \${f##*/}"; done
  sed 's/^/DBC-TEST-SEED-META /' /seed/meta-data
  sed 's/^/DBC-TEST-SEED /' /seed/user-data
  echo "DBC-TEST-SEED-END"
  # user-data that is a script is run, as cloud-init does at first boot (below, after READY)
  if [ "\$(head -c 2 /seed/user-data)" = "#!" ]; then
    cp /seed/user-data /tmp/user-data && chmod 0755 /tmp/user-data
  fi
  umount /seed
fi
acpid -c /etc/acpi -l /tmp/acpid.log 2>/dev/null
# the guest agent, on its port when the domain has one (devtmpfs names it vportNpM); the port
# shows up a moment after the module is loaded
i=0; while [ \$i -lt 30 ] && ! ls /sys/class/virtio-ports/*/name >/dev/null 2>&1; do sleep 0.1; i=\$((i+1)); done
agent=none
for p in /sys/class/virtio-ports/*; do
  [ "\$(cat "\$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] || continue
  i=0; while [ \$i -lt 20 ] && [ ! -e "/dev/\${p##*/}" ]; do sleep 0.1; i=\$((i+1)); done
  qemu-ga -m virtio-serial -p "/dev/\${p##*/}" -t /run >/tmp/qemu-ga.log 2>&1 &
  agent=\${p##*/}
done
echo "$MARKER"
echo "DBC-TEST-FACT kernel=\$(uname -r)"
echo "DBC-TEST-FACT nproc=\$(nproc)"
echo "DBC-TEST-FACT agent=\$agent"
echo "DBC-TEST-FACT memtotal_kb=\$(awk '/^MemTotal:/ {print \$2}' /proc/meminfo)"
awk 'NR > 2 && NF == 4 { print "DBC-TEST-FACT blockdev=" \$4 " size_kb=" \$3 }' /proc/partitions
echo "DBC-TEST-GUEST-READY"
# every change to /etc/shadow (a password set through the guest agent) goes to the console
(
  old=\$(md5sum /etc/shadow)
  while :; do
    sleep 0.5
    new=\$(md5sum /etc/shadow)
    [ "\$new" = "\$old" ] && continue
    old=\$new
    sed 's/^/DBC-TEST-SHADOW /' /etc/shadow
  done
) &
if [ -x /tmp/user-data ]; then
  /tmp/user-data
  echo "DBC-TEST-USER-SCRIPT exit=\$?"
fi
# stay alive as PID 1 (exiting would panic the kernel)
while :; do sleep 3600; done
EOF
chmod 0755 "$R/init"

(cd "$R" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner=0:0 --quiet | gzip -9n) >"$WORK/initrd.img" ||
  die "building initramfs failed"

# ------------------------------------------------------------------- disk
qemu-img create -q -f qcow2 "$WORK/base.qcow2" "$DISK_SIZE" >/dev/null ||
  die "qemu-img create failed"

# ----------------------------------------------------------------- install
install -m 0644 "$vmlinuz" "$WORK/vmlinuz"
chmod 0644 "$WORK/initrd.img" "$WORK/base.qcow2"
rm -f "$STAMP"
mv -f "$WORK/vmlinuz" "$KERNEL"
mv -f "$WORK/initrd.img" "$INITRD"
mv -f "$WORK/base.qcow2" "$BASE_DISK"
printf 'key=%s\nkernel_pkg=%s\nkernel_version=%s\n' "$KEY" "$KPKG" "$KVER" >"$STAMP.tmp"
chmod 0644 "$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
log "built test guest for kernel $KVER in $CACHE_DIR"

# libvirt's qemu runs as libvirt-qemu (dynamic_ownership chowns the files
# themselves, but every parent dir must be traversable by that user).
if [[ "$(id -u)" -eq 0 ]] && id libvirt-qemu >/dev/null 2>&1 && command -v runuser >/dev/null; then
  for f in "$KERNEL" "$INITRD" "$BASE_DISK"; do
    runuser -u libvirt-qemu -- test -r "$f" ||
      log "WARNING: user libvirt-qemu cannot read $f (a parent dir is not world-executable?); qemu:///system guests will fail to start"
  done
fi
print_result
