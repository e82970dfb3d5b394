#!/usr/bin/env bash
# Installs Debian's Prometheus server and promtool for the metrics test (tests/http/metrics_test.ts),
# idempotently: nothing happens when both are on PATH. Debian's own service is never started (a
# policy-rc.d forbids it while the package installs, as in libvirt_setup.sh); the test starts a
# Prometheus of its own, on a free loopback port with scratch storage, and stops it.
#
# Usage (as root):  scripts/system/prometheus_setup.sh
set -euo pipefail

PACKAGES=(prometheus)

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/system/lib.sh
source "$here/lib.sh"

require_root

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  log "prometheus and promtool already installed"
  exit 0
fi
apt_install --no-services "${PACKAGES[@]}"

for program in prometheus promtool; do
  command -v "$program" >/dev/null || die "$program not found after install"
done
log "installed $(prometheus --version 2>&1 | head -n 1)"
