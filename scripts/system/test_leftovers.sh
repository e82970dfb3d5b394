#!/usr/bin/env bash
# Removes what an earlier, interrupted test run left behind, so one failed run never fails the
# next: libvirt domains and networks named with the tests' prefix (dbct-, never a node's default
# dbc-), the LAN tests' devices and network namespaces, engine containers and volumes labelled dbc.test, and the tests' scratch directories.
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

# Renters' LANs the tests made (tests/node_service/lan/): libvirt networks named with the tests'
# prefix (libvirt removes their bridges), the VXLAN devices on them (dbtx...), bridges left
# without their network (dbtb...), and the namespaces that stand in for hosts (dbct-lan...).
networks=0
while read -r name; do
  [[ "$name" == dbct-* ]] || continue
  virsh -c "$URI" net-destroy "$name" >/dev/null 2>&1
  virsh -c "$URI" net-undefine "$name" >/dev/null 2>&1
  networks=$((networks + 1))
done < <(virsh -c "$URI" net-list --all --name 2>/dev/null)
while read -r link; do
  link="${link%%@*}"
  [[ "$link" =~ ^dbt[bx][a-z2-7]{8}$ ]] && ip link del dev "$link" >/dev/null 2>&1
done < <(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }')
while read -r ns _; do
  [[ "$ns" == dbct-lan* ]] && ip netns del "$ns" >/dev/null 2>&1
done < <(ip netns list 2>/dev/null)

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

# The image-server tests' nginx (tests/node_service/image_servers/nginx_fixture.ts), each by the
# pid it wrote in its own scratch directory.
for pid_file in "$SCRATCH"/image-server-*/nginx.pid; do
  [[ -f "$pid_file" ]] && kill "$(cat "$pid_file")" >/dev/null 2>&1
done

if [[ -d "$SCRATCH" ]]; then
  find "$SCRATCH" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null
fi
log "removed $domains test domain(s), $networks test network(s), $containers test container(s), scratch in $SCRATCH"
