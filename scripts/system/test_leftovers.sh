#!/usr/bin/env bash
# Removes what an earlier, interrupted test run left behind, so one failed run never fails the
# next: libvirt domains named with the tests' prefix (dbct-, never a node's default dbc-),
# engine containers and volumes labelled dbc.test, and the tests' scratch directories.
# `scripts/system/test_setup.sh` runs it before the tests start; it touches nothing else.
#   DBC_TEST_SCRATCH    the tests' scratch root (default /var/tmp/dbc-test)
#   DBC_DOCKER_SOCKET   the engine's socket (default /run/dbc-podman/podman.sock)
set -uo pipefail

URI="qemu:///system"
SCRATCH="${DBC_TEST_SCRATCH:-/var/tmp/dbc-test}"
SOCKET="${DBC_DOCKER_SOCKET:-/run/dbc-podman/podman.sock}"
log() { echo "[test_leftovers] $*" >&2; }

domains=0
while read -r name; do
  [[ "$name" == dbct-* ]] || continue
  virsh -c "$URI" destroy "$name" >/dev/null 2>&1
  virsh -c "$URI" undefine "$name" --nvram --snapshots-metadata >/dev/null 2>&1 ||
    virsh -c "$URI" undefine "$name" >/dev/null 2>&1
  domains=$((domains + 1))
done < <(virsh -c "$URI" list --all --name 2>/dev/null)

containers=0
if [[ -S "$SOCKET" ]] && command -v podman >/dev/null; then
  remote=(--url "unix://$SOCKET")
  ids="$(podman "${remote[@]}" ps -a -q --filter label=dbc.test 2>/dev/null)"
  if [[ -n "$ids" ]]; then
    # shellcheck disable=SC2086
    podman "${remote[@]}" rm -f -v $ids >/dev/null 2>&1
    containers=$(wc -w <<<"$ids")
  fi
  podman "${remote[@]}" volume prune -f --filter label=dbc.test >/dev/null 2>&1
fi

if [[ -d "$SCRATCH" ]]; then
  find "$SCRATCH" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null
fi
log "removed $domains test domain(s), $containers test container(s), scratch in $SCRATCH"
