#!/usr/bin/env bash
# Makes sure a Docker engine answers. When none does, installs Debian's docker.io if needed and
# starts dockerd in the background (machines without systemd-managed Docker, CI containers).
set -euo pipefail
CACHE=${HEARTH_CACHE:-$HOME/.cache/hearth}
log() { printf '\033[1m[docker]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

docker info >/dev/null 2>&1 && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
  log "no Docker engine installed; installing Debian's docker.io"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >/dev/null
fi
if ! command -v docker >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker-cli >/dev/null 2>&1 || true
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  as_root systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1; then
  # A dockerd that was killed leaves its pid file behind; a new one refuses to start over it.
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then as_root rm -f /var/run/docker.pid; fi
  mkdir -p "$CACHE"
  log "starting dockerd in the background (log: $CACHE/dockerd.log)"
  as_root sh -c "nohup dockerd >'$CACHE/dockerd.log' 2>&1 &"
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "engine is up"; exit 0; }
  sleep 1
done
log "the Docker engine did not answer within 60 s; last lines of its log:"
tail -n 20 "$CACHE/dockerd.log" >&2 || true
exit 1
