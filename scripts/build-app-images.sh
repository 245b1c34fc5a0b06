#!/usr/bin/env bash
# Builds the reference application (examples/refapp) into hearth/refapp:1, :2 and :3 and saves
# them to one tarball that test hosts `docker load` from the read-only artifacts mount
# (/var/cache/hearth-artifacts/refapp/refapp.tar). No image is pulled:
#   1. base: a Debian rootfs debootstrapped from Debian's archive with Python and the app's
#      libraries (all Debian packages), tarred into $CACHE/refapp-base-<hash>.tar and imported as
#      hearth/refapp-base:<hash>; <hash> covers the suite, the package list and the recipe.
#      Later builds reuse the imported image, or the tarball when the engine was wiped.
#   2. app: one `docker build` per version FROM that base, saved together (layers shared) to
#      $CACHE/artifacts/refapp/refapp-<hash>.tar, hard-linked as refapp.tar; <hash> covers the
#      base and every file under examples/refapp.
# Run again with nothing changed and it says the images are cached; with the images gone it
# loads them from the tarball. The last line on stdout is the tarball's path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP=examples/refapp
CACHE=${HEARTH_CACHE:-$HOME/.cache/hearth}
SUITE=${HEARTH_REFAPP_SUITE:-trixie}
MIRROR=${HEARTH_REFAPP_MIRROR:-http://deb.debian.org/debian}
IMAGE=${HEARTH_REFAPP_IMAGE:-hearth/refapp}
VERSIONS=(1 2 3)
# The interpreter, the application's libraries (Debian 13 packages all of them), the CA store
# for TLS to the platform, and tini as PID 1 so signals reach the app and zombies are reaped.
INCLUDE=python3,python3-fastapi,python3-uvicorn,python3-celery,python3-redis,python3-psycopg,python3-boto3,ca-certificates,tini
# Bump when the rootfs recipe below changes, so the base is rebuilt.
RECIPE=2
APP_UID=10001

log() { printf '\033[1m[app-images]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

BASE_HASH=$(printf '%s\n' "$SUITE" "$INCLUDE" "$RECIPE" "$APP_UID" | sha256sum | cut -c1-12)
BASE_IMAGE=$IMAGE-base:$BASE_HASH
BASE_TAR=$CACHE/refapp-base-$BASE_HASH.tar
# Every file under examples/refapp by path and content (caches of Python and pytest left out),
# the base and the versions built.
APP_HASH=$(cd "$ROOT" && {
  printf '%s\n' "$BASE_HASH" "${VERSIONS[*]}"
  find "$APP" \( -name __pycache__ -o -name .pytest_cache \) -prune -o -type f ! -name '*.pyc' -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-12)
OUT=$CACHE/artifacts/refapp
TARBALL=$OUT/refapp-$APP_HASH.tar
STABLE=$OUT/refapp.tar
SOURCE=$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)
SOURCE=${SOURCE:+${SOURCE%.git}/tree/main/$APP}
SOURCE=${SOURCE:-$APP}

images_current() {
  local v
  for v in "${VERSIONS[@]}"; do
    [ "$(docker image inspect -f '{{ index .Config.Labels "io.hearth.refapp.source-hash" }}' \
        "$IMAGE:$v" 2>/dev/null)" = "$APP_HASH" ] || return 1
  done
}

link_stable() {
  # A hard link, not a symlink: it still resolves when only the artifacts folder is mounted.
  if [ ! "$TARBALL" -ef "$STABLE" ]; then
    rm -f "$STABLE.tmp"
    ln "$TARBALL" "$STABLE.tmp" 2>/dev/null || cp "$TARBALL" "$STABLE.tmp"
    mv -f "$STABLE.tmp" "$STABLE"
  fi
  find "$OUT" -maxdepth 1 -name 'refapp-*.tar' ! -name "refapp-$APP_HASH.tar" -delete
}

finish() {
  link_stable
  log "$(for v in "${VERSIONS[@]}"; do docker image inspect -f "$IMAGE:$v {{ .Size }}" "$IMAGE:$v"; done \
    | awk '{ printf "%s%s %.0f MB", (NR > 1 ? ", " : ""), $1, $2 / 1e6 }')"
  log "tarball $TARBALL ($(du -m "$TARBALL" | cut -f1) MB), also $STABLE"
  echo "$TARBALL"
  exit 0
}

mkdir -p "$CACHE"
# One build at a time (make artifacts and a test run may both ask): a second run waits, then
# finds the images cached.
exec 9>"$CACHE/.refapp-build.lock"
flock -n 9 || { log "another build of the app images runs; waiting for it"; flock 9; }
# The lock's descriptor stays out of a dockerd started here, which would otherwise hold it.
docker info >/dev/null 2>&1 || "$ROOT/scripts/docker-up.sh" 9>&-

if [ -s "$TARBALL" ] && images_current; then
  log "cached: $IMAGE:{$(IFS=,; echo "${VERSIONS[*]}")} match examples/refapp ($APP_HASH)"
  finish
fi
if [ -s "$TARBALL" ]; then
  log "loading $TARBALL"
  docker load -q -i "$TARBALL" >/dev/null
  images_current && finish
fi

build_rootfs() {
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >/dev/null
  fi
  log "debootstrapping $SUITE with Python and the app's libraries from $MIRROR (a few minutes, once)"
  mkdir -p "$CACHE/apt-archives"
  local root
  root=$(mktemp -d "$CACHE/refapp-rootfs.XXXXXX")
  trap 'as_root rm -rf "'"$root"'"' EXIT
  as_root debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$CACHE/apt-archives" \
    "$SUITE" "$root" "$MIRROR" >"$CACHE/refapp-debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/refapp-debootstrap.log" >&2; exit 1; }
  # An application image needs no docs, manuals, translations, package lists or logs.
  as_root sh -c "cd '$root' && rm -rf usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* \
    usr/share/lintian usr/share/linda var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb \
    var/cache/debconf/*-old var/lib/dpkg/*-old var/log/* etc/hostname && : >etc/machine-id"
  # botocore ships the models of every AWS service (about 100 MB); the app speaks S3 only, so the
  # image keeps S3's models and those of the credential services (STS, SSO).
  as_root sh -c "cd '$root/usr/lib/python3/dist-packages' && find botocore/data boto3/data -mindepth 1 -maxdepth 1 \
    -type d ! -name s3 ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} +"
  # The unprivileged user the app runs as; /tmp is its home (the image itself stays read-only).
  as_root sh -c "cd '$root' && echo 'app:x:$APP_UID:$APP_UID:refapp:/tmp:/usr/sbin/nologin' >>etc/passwd \
    && echo 'app:x:$APP_UID:' >>etc/group"
  as_root tar -C "$root" --numeric-owner -cf "$BASE_TAR.tmp" .
  as_root chown "$(id -u):$(id -g)" "$BASE_TAR.tmp"
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  find "$CACHE" -maxdepth 1 -name 'refapp-base-*.tar' ! -name "refapp-base-$BASE_HASH.tar" -delete
  as_root rm -rf "$root"
  trap - EXIT
}

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "$BASE_IMAGE present"
else
  [ -s "$BASE_TAR" ] || build_rootfs
  log "importing $BASE_TAR as $BASE_IMAGE"
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' \
    "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

# The legacy builder needs no buildx plugin and builds FROM a local image without asking a registry.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
for v in "${VERSIONS[@]}"; do
  log "building $IMAGE:$v"
  docker build -q --pull=false -f "$ROOT/$APP/Dockerfile" \
    --build-arg BASE="$BASE_IMAGE" --build-arg VERSION="$v" --build-arg SOURCE="$SOURCE" \
    --build-arg SOURCE_HASH="$APP_HASH" -t "$IMAGE:$v" "$ROOT/$APP" >/dev/null 2>"$CACHE/refapp-build.log" \
    || { cat "$CACHE/refapp-build.log" >&2; exit 1; }
done

# Earlier builds of the app, now untagged, go (those a container still uses stay).
for id in $(docker images -q -f dangling=true -f label=io.hearth.refapp.source-hash); do
  docker rmi "$id" >/dev/null 2>&1 || true
done

mkdir -p "$OUT"
log "saving ${VERSIONS[*]/#/$IMAGE:} to $TARBALL"
docker save -o "$TARBALL.tmp" "${VERSIONS[@]/#/$IMAGE:}"
chmod 644 "$TARBALL.tmp"
mv -f "$TARBALL.tmp" "$TARBALL"
finish
