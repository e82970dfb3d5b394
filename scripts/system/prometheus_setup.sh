#!/usr/bin/env bash
# Installs Debian's Prometheus server and promtool for the metrics test (tests/http/metrics_test.ts),
# idempotently: nothing happens when both are on PATH. Debian's own service is never started (a
# policy-rc.d forbids it while the package installs, as in libvirt_setup.sh); the test starts a
# Prometheus of its own, on a free loopback port with scratch storage, and stops it.
#
# Usage (as root):  scripts/system/prometheus_setup.sh
set -euo pipefail

PACKAGES=(prometheus)

log() { echo "[prometheus_setup] $*" >&2; }
die() {
  echo "[prometheus_setup] ERROR: $*" >&2
  exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root"

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  log "prometheus and promtool already installed"
  exit 0
fi
command -v dpkg-query >/dev/null || die "dpkg-query not found (Debian/Ubuntu only)"

log "installing: ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
# Without an init system the maintainer scripts must not start Debian's service: 101 = forbidden.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  own_policy=1
fi
cleanup_policy() { if ((own_policy)); then rm -f "$policy"; fi; }
trap cleanup_policy EXIT
# Another apt/dpkg may be running concurrently: wait for the lock.
apt_opts=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_opts[@]}" update -q >/dev/null || die "apt-get update failed"
apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null ||
  die "apt-get install failed for: ${PACKAGES[*]}"

for program in prometheus promtool; do
  command -v "$program" >/dev/null || die "$program not found after install"
done
log "installed $(prometheus --version 2>&1 | head -n 1)"
