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

log() { echo "[image_server_setup] $*" >&2; }
die() {
  echo "[image_server_setup] ERROR: $*" >&2
  exit 1
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root"

if command -v nginx >/dev/null && [[ -f "$DAV_EXT_MODULE" ]]; then
  log "nginx with WebDAV already installed"
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

command -v nginx >/dev/null || die "nginx not found after install"
[[ -f "$DAV_EXT_MODULE" ]] || die "$DAV_EXT_MODULE not found after install"
# http_dav_module (PUT) is compiled into Debian's nginx; say so if a build lacks it.
nginx -V 2>&1 | grep -q -- --with-http_dav_module || die "this nginx lacks --with-http_dav_module"
log "installed $(nginx -v 2>&1)"
