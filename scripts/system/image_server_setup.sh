#!/usr/bin/env bash
# Installs Debian's nginx with WebDAV (the core dav module: PUT, DELETE, MKCOL; the dav-ext module:
# PROPFIND) for the image-server tests (tests/node_service/image_servers/), idempotently: nothing
# happens when nginx is on PATH and the dav-ext module is installed. Debian's own service is never
# started (a policy-rc.d forbids it while the package installs, as in prometheus_setup.sh); each
# test starts an nginx of its own on a free loopback port with a scratch root, and stops it.
#
# Usage (as root):  scripts/system/image_server_setup.sh
set -euo pipefail

PACKAGES=(nginx-light libnginx-mod-http-dav-ext)
DAV_EXT_MODULE=/usr/lib/nginx/modules/ngx_http_dav_ext_module.so

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/system/lib.sh
source "$here/lib.sh"

require_root

if command -v nginx >/dev/null && [[ -f "$DAV_EXT_MODULE" ]]; then
  log "nginx with WebDAV already installed"
  exit 0
fi
apt_install --no-services "${PACKAGES[@]}"

command -v nginx >/dev/null || die "nginx not found after install"
[[ -f "$DAV_EXT_MODULE" ]] || die "$DAV_EXT_MODULE not found after install"
# http_dav_module (PUT) is compiled into Debian's nginx; say so if a build lacks it.
nginx -V 2>&1 | grep -q -- --with-http_dav_module || die "this nginx lacks --with-http_dav_module"
log "installed $(nginx -v 2>&1)"
