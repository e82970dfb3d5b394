# shellcheck shell=bash
# What the set-up scripts share; sourced by them, never run:
#   here="$(cd "$(dirname "$0")" && pwd)"; source "$here/lib.sh"
# Messages are prefixed with the script's name ([libvirt_setup] ...), on stderr.

SETUP_NAME="$(basename "$0" .sh)"

log() { echo "[$SETUP_NAME] $*" >&2; }
die() {
  echo "[$SETUP_NAME] ERROR: $*" >&2
  exit 1
}

require_root() { [[ "$(id -u)" -eq 0 ]] || die "must run as root"; }

# apt_install [--no-services] PACKAGE...
# Installs Debian packages without their recommends, quietly, waiting for the lock of an apt or
# dpkg that runs at the same time. --no-services: this host has no init system, so the packages'
# maintainer scripts must not start their services; a policy-rc.d that forbids it (101) is put in
# place for the install, unless the host has one of its own.
apt_install() {
  local no_services=0
  if [[ "${1:-}" == --no-services ]]; then
    no_services=1
    shift
  fi
  command -v apt-get >/dev/null || die "apt-get not found (Debian/Ubuntu only); install: $*"
  log "installing: $*"
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d
  local own_policy=0
  if ((no_services)) && [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
    # die exits: the policy must go then too.
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  local apt_opts=(-o DPkg::Lock::Timeout=600)
  apt-get "${apt_opts[@]}" update -q >/dev/null || die "apt-get update failed"
  apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "$@" >/dev/null ||
    die "apt-get install failed for: $*"
  if ((own_policy)); then
    rm -f "$policy"
    trap - EXIT
  fi
}
