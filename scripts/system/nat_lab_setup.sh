#!/usr/bin/env bash
# Installs what the NAT test (tests/network/nat_test.ts) builds its network namespaces with:
# iproute2 (ip netns, veth pairs, a bridge), iptables (the router's MASQUERADE and the filter that
# drops connections opened from outside) and curl (the API of a node inside a namespace is on that
# namespace's loopback). Idempotent: nothing happens when all three are on PATH.
#
# Usage (as root):  scripts/system/nat_lab_setup.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/system/lib.sh
source "$here/lib.sh"

require_root

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v curl >/dev/null || missing+=(curl)
if [[ ${#missing[@]} -eq 0 ]]; then
  log "ip, iptables and curl already installed"
  exit 0
fi
apt_install "${missing[@]}"
