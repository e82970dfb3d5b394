#!/usr/bin/env bash
# Installs what the NAT test (tests/network/nat_test.ts) builds its network namespaces with:
# iproute2 (ip netns, veth pairs, a bridge), iptables (the router's MASQUERADE and the filter that
# drops connections opened from outside) and curl (the API of a node inside a namespace is on that
# namespace's loopback). Idempotent: nothing happens when all three are on PATH.
#
# Usage (as root):  scripts/system/nat_lab_setup.sh
set -euo pipefail

log() { echo "[nat_lab_setup] $*" >&2; }
die() {
  echo "[nat_lab_setup] ERROR: $*" >&2
  exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root"

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v curl >/dev/null || missing+=(curl)
if [[ ${#missing[@]} -eq 0 ]]; then
  log "ip, iptables and curl already installed"
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found (Debian/Ubuntu only); install: ${missing[*]}"
log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg may be running concurrently: wait for the lock.
apt_opts=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_opts[@]}" update -q >/dev/null || die "apt-get update failed"
apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
  die "apt-get install failed for: ${missing[*]}"
