#!/usr/bin/env bash
# Idempotent libvirt/QEMU setup for real libvirt tests on a Debian 12 host
# that has NO init system (no systemd): installs packages (only when missing),
# starts virtlogd + libvirtd by hand, waits for qemu:///system to answer and
# makes sure the "default" dir storage pool exists and is active.
#
# Usage (as root):  scripts/system/libvirt_setup.sh
# Env:
#   LIBVIRT_WAIT_SECS   max seconds to wait for libvirtd (default 30)
#   LIBVIRT_POOL_DIR    default pool directory (default /var/lib/libvirt/images)
set -euo pipefail

URI="qemu:///system"
WAIT_SECS="${LIBVIRT_WAIT_SECS:-30}"
POOL_DIR="${LIBVIRT_POOL_DIR:-/var/lib/libvirt/images}"
PACKAGES=(
  libvirt-daemon-system
  libvirt-daemon-driver-qemu
  libvirt-clients
  qemu-system-x86
  qemu-utils
  busybox-static
  cpio
  gzip
  libxml2-utils # xmllint, used by virt-xml-validate
  # the tests of VM seed disks: fsck.fat, mtools, and the YAML parser cloud-init itself uses
  dosfstools
  mtools
  python3-yaml
  # renters' LANs (node_service/lan/): libvirt runs dnsmasq for a LAN's DHCP range
  dnsmasq-base
  # UEFI guests (bios_mode uefi): OVMF's firmware and the descriptors libvirt's firmware="efi" reads
  ovmf
)

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/system/lib.sh
source "$here/lib.sh"

require_root
command -v dpkg-query >/dev/null || die "dpkg-query not found (Debian/Ubuntu only)"

# ---------------------------------------------------------------- packages
missing=()
for p in "${PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  apt_install --no-services "${missing[@]}"
else
  log "packages already installed"
fi

for b in virsh libvirtd virtlogd qemu-img qemu-system-x86_64; do
  command -v "$b" >/dev/null || die "$b not found after install"
done

# -------------------------------------------------------------- /dev/kvm
# udev's rules give /dev/kvm group kvm and mode 0660 on an ordinary host; without udev it can
# stay 0600 root:root. libvirt then probes QEMU as root (KVM usable), finds KVM unusable for
# its QEMU user, throws the capability cache away and probes again on every call: each
# `virsh define` takes tens of seconds. Do what udev would, before libvirtd starts.
if [[ -c /dev/kvm ]]; then
  getent group kvm >/dev/null || groupadd --system kvm
  if [[ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]]; then
    log "/dev/kvm was $(stat -c '%U:%G %a' /dev/kvm); making it root:kvm 0660 as udev does"
    chgrp kvm /dev/kvm
    chmod 0660 /dev/kvm
    kvm_changed=1
  fi
  qemu_user="$(sed -nE 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"([^"]+)".*/\1/p' \
    /etc/libvirt/qemu.conf 2>/dev/null | tail -n 1)"
  qemu_user="${qemu_user:-libvirt-qemu}"
  if id "$qemu_user" >/dev/null 2>&1 && ! id -nG "$qemu_user" | tr ' ' '\n' | grep -qx kvm; then
    log "adding $qemu_user to group kvm"
    usermod -a -G kvm "$qemu_user"
    kvm_changed=1
  fi
fi

# ----------------------------------------------------------------- daemons
# Runtime dirs normally created by systemd-tmpfiles / the unit files.
mkdir -p /run/libvirt /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt/qemu

daemon_running() { # $1 = daemon name, $2 = pidfile
  local pid stat
  [[ -s "$2" ]] || return 1
  pid="$(cat "$2" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]] || return 1
  # A killed daemon can linger as a zombie (PID 1 here may reap late).
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

start_daemon() { # $1 = name, $2 = pidfile, $3 = socket to wait for
  local name="$1" pidfile="$2" sock="$3" i
  if daemon_running "$name" "$pidfile"; then
    log "$name already running (pid $(cat "$pidfile"))"
    return 0
  fi
  # Stale pidfile/socket from a killed daemon would make it refuse to start.
  rm -f "$pidfile"
  log "starting $name"
  "$name" -d || die "$name -d failed (see /var/log/libvirt or run '$name -v' in foreground)"
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    [[ -S "$sock" ]] && daemon_running "$name" "$pidfile" && return 0
    sleep 0.1
  done
  die "$name did not come up within ${WAIT_SECS}s (no socket $sock)"
}

# A libvirtd started before /dev/kvm was fixed keeps the stale view (and its capability cache).
if [[ "${kvm_changed:-0}" -eq 1 ]] && daemon_running libvirtd /run/libvirtd.pid; then
  log "restarting libvirtd so it sees the new /dev/kvm"
  kill "$(cat /run/libvirtd.pid)"
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    daemon_running libvirtd /run/libvirtd.pid || break
    sleep 0.1
  done
  rm -rf /var/cache/libvirt/qemu/capabilities
fi
start_daemon virtlogd /run/virtlogd.pid /run/libvirt/virtlogd-sock
start_daemon libvirtd /run/libvirtd.pid /run/libvirt/libvirt-sock

log "waiting for 'virsh -c $URI list --all'"
ok=0
for ((i = 0; i < WAIT_SECS * 2; i++)); do
  if virsh -c "$URI" list --all >/dev/null 2>&1; then
    ok=1
    break
  fi
  sleep 0.5
done
if ((!ok)); then
  virsh -c "$URI" list --all || true
  die "libvirtd did not answer on $URI within ${WAIT_SECS}s (see /var/log/libvirt/libvirtd.log)"
fi

# QEMU driver must actually be usable (TCG is fine; /dev/kvm may be absent).
virsh -c "$URI" domcapabilities --virttype qemu >/dev/null 2>&1 ||
  die "qemu driver not usable: 'virsh domcapabilities --virttype qemu' failed"

# ------------------------------------------------------------ storage pool
mkdir -p "$POOL_DIR"
chmod 0711 "$POOL_DIR"
if ! virsh -c "$URI" pool-info default >/dev/null 2>&1; then
  log "defining storage pool 'default' at $POOL_DIR"
  virsh -c "$URI" pool-define-as default dir --target "$POOL_DIR" >/dev/null ||
    die "pool-define-as default failed"
fi
if ! virsh -c "$URI" pool-info default | grep -E '^State:[[:space:]]+running' >/dev/null; then
  virsh -c "$URI" pool-build default >/dev/null 2>&1 || true
  virsh -c "$URI" pool-start default >/dev/null || die "pool-start default failed"
fi
virsh -c "$URI" pool-autostart default >/dev/null 2>&1 || true
virsh -c "$URI" pool-refresh default >/dev/null || die "pool-refresh default failed"

kvm="no (TCG only: use <domain type='qemu'>)"
[[ -c /dev/kvm ]] && kvm="yes (/dev/kvm $(stat -c '%U:%G %a' /dev/kvm))"
log "ready: $URI answers; pool 'default' -> $POOL_DIR; kvm: $kvm"
