#!/usr/bin/env bash
# Brings up what the system tests drive for real, idempotently (fast when all is already up):
# libvirt + QEMU with a bootable test guest, Podman serving the Docker Engine API with a test
# image, Prometheus and promtool for the metrics test, nginx with WebDAV for the image-server
# tests, Chromium for the dashboard's browser test;
# then it clears what an interrupted earlier run left (test_leftovers.sh). Needs root (it installs
# Debian packages and starts daemons).
# `deno task test` runs it first.
# The Debian packages, those the tests only read with (dosfstools, mtools, python3-yaml) included,
# are listed in libvirt_setup.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "[test_setup] the system tests need root to install and start libvirt and Podman" >&2
  exit 1
fi
"$here/libvirt_setup.sh" >&2
"$here/build_test_vm_image.sh" >/dev/null
"$here/podman_setup.sh" >/dev/null
"$here/podman_test_image.sh" >/dev/null
"$here/prometheus_setup.sh" >&2
"$here/image_server_setup.sh" >&2
"$here/browser_setup.sh" >&2
"$here/nat_lab_setup.sh" >&2
"$here/chain_setup.sh"
"$here/test_leftovers.sh"
echo "[test_setup] libvirt and the Docker Engine API are up" >&2
