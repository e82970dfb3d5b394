#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test (tests/http/ui_browser_test.ts),
# idempotently: nothing happens when /usr/bin/chromium is there. The test drives it with
# puppeteer-core, which never downloads a browser of its own; nothing else may either.
#
# Usage (as root):  scripts/system/browser_setup.sh
set -euo pipefail

PACKAGES=(chromium)
BROWSER=/usr/bin/chromium

log() { echo "[browser_setup] $*" >&2; }
die() {
  echo "[browser_setup] ERROR: $*" >&2
  exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root"

if [[ -x "$BROWSER" ]]; then
  log "chromium already installed"
  exit 0
fi
command -v dpkg-query >/dev/null || die "dpkg-query not found (Debian/Ubuntu only)"

log "installing: ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg may be running concurrently: wait for the lock.
apt_opts=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_opts[@]}" update -q >/dev/null || die "apt-get update failed"
# Without recommends: the browser and its libraries, no desktop integration.
apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null ||
  die "apt-get install failed for: ${PACKAGES[*]}"

[[ -x "$BROWSER" ]] || die "$BROWSER not found after install"
log "installed $("$BROWSER" --version 2>/dev/null | head -n 1)"
