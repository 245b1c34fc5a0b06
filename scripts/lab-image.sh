#!/usr/bin/env bash
# Builds (or reuses) the Debian 13 systemd image that lab hosts and molecule scenarios boot.
#
# Order of preference, fastest first:
#   1. the image is already in the local engine            -> nothing to do
#   2. a registry answers for $HEARTH_BASE_PULL             -> pull it, add systemd on top
#   3. neither                                              -> debootstrap from Debian's archive
#      and `docker import`, keeping the tarball in the cache so a wiped engine re-imports in seconds.
set -euo pipefail

IMAGE=${HEARTH_LAB_IMAGE:-hearth/debian-systemd:13}
SUITE=${HEARTH_LAB_SUITE:-trixie}
MIRROR=${HEARTH_LAB_MIRROR:-http://deb.debian.org/debian}
PULL=${HEARTH_BASE_PULL:-debian:trixie}
CACHE=${HEARTH_CACHE:-$HOME/.cache/hearth}
# Packages every lab host needs before Ansible can manage it like a real machine.
INCLUDE=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,openssh-server,gnupg,curl,less
TARBALL="$CACHE/rootfs-$SUITE-$(echo "$INCLUDE" | sha256sum | cut -c1-12).tar"

log() { printf '\033[1m[lab-image]\033[0m %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE already present"
  exit 0
fi

mkdir -p "$CACHE"

if [ ! -s "$TARBALL" ] && timeout 30 docker pull -q "$PULL" >/dev/null 2>&1; then
  log "pulled $PULL; adding systemd"
  docker build -q -t "$IMAGE" - <<DOCKERFILE >/dev/null
FROM $PULL
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(echo "$INCLUDE" | tr , ' ') && rm -f /etc/apt/apt.conf.d/docker-clean && apt-get clean
CMD ["/sbin/init"]
DOCKERFILE
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  log "no registry answered; debootstrapping $SUITE from $MIRROR (a few minutes, once)"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # A container has no consoles or hardware to wait for; these units only slow boot or fail.
  for unit in getty.target systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service \
              sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount systemd-firstboot.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  echo "hearth-lab" >"$root/etc/hostname"
  : >"$root/etc/machine-id"
  rm -f "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
fi

log "importing $TARBALL as $IMAGE"
docker import -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' "$TARBALL" "$IMAGE" >/dev/null
log "$IMAGE ready"
