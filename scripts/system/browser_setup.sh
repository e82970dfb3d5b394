#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test (tests/http/ui_browser_test.ts),
# idempotently: nothing happens when /usr/bin/chromium is there. The test drives it with
# puppeteer-core, which never downloads a browser of its own; nothing else may either.
#
# Usage (as root):  scripts/system/browser_setup.sh
set -euo pipefail

PACKAGES=(chromium)
BROWSER=/usr/bin/chromium

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/system/lib.sh
source "$here/lib.sh"

require_root

if [[ -x "$BROWSER" ]]; then
  log "chromium already installed"
  exit 0
fi
# Without recommends: the browser and its libraries, no desktop integration.
apt_install "${PACKAGES[@]}"

[[ -x "$BROWSER" ]] || die "$BROWSER not found after install"
log "installed $("$BROWSER" --version 2>/dev/null | head -n 1)"
