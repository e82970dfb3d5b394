#!/usr/bin/env bash
# Builds a tiny busybox test image without any registry and imports it into the
# rootful podman storage (the same storage `podman system service` run as root
# by podman_setup.sh uses). Idempotent: skips if the image already exists.
#
#   DBC_TEST_IMAGE   image name (default localhost/dbc-test-busybox:latest)
#
# On success the last line printed on stdout is: TEST_IMAGE=<name>
set -euo pipefail

IMAGE="${DBC_TEST_IMAGE:-localhost/dbc-test-busybox:latest}"

log() { echo "[podman_test_image] $*" >&2; }
die() { echo "[podman_test_image] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (rootful podman storage is shared with the API service)"
command -v podman >/dev/null || die "podman not installed (run podman_setup.sh first)"

if podman image exists "$IMAGE"; then
  log "image $IMAGE already exists"
  echo "TEST_IMAGE=$IMAGE"
  exit 0
fi

BUSYBOX=/bin/busybox
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  log "installing busybox-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q busybox-static >&2
fi
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing"
# the rootfs has no libc, so the binary must be static
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is not statically linked"; fi

WORK="$(mktemp -d /tmp/dbc-busybox-rootfs.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,data,var/tmp}
chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
# --install -s must run with the rootfs as "/"; chroot is available as root.
chroot "$ROOTFS" /bin/busybox --install -s
[ -e "$ROOTFS/bin/sh" ] || ln -s busybox "$ROOTFS/bin/sh"
for t in sh echo sleep cat ls; do
  [ -e "$ROOTFS/bin/$t" ] || [ -e "$ROOTFS/usr/bin/$t" ] || die "applet $t missing in rootfs"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOTFS/etc/group"

tar -C "$ROOTFS" --numeric-owner -cf "$WORK/rootfs.tar" .
log "importing $IMAGE"
podman import \
  --change 'CMD ["/bin/sh"]' \
  --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /' \
  --message "dbc test busybox image" \
  "$WORK/rootfs.tar" "$IMAGE" >&2
podman image exists "$IMAGE" || die "import of $IMAGE failed"
echo "TEST_IMAGE=$IMAGE"
