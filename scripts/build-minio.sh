#!/usr/bin/env bash
# Build the MinIO server (and, where the host's distribution lacks it, the `mc` client) from
# their Go modules at pinned versions, and cache the binaries where the `minio` role's
# `controller` install source and the molecule test hosts find them:
#
#   ${HEARTH_CACHE:-$HOME/.cache/hearth}/artifacts/minio/<module version>/minio
#   ${HEARTH_CACHE:-$HOME/.cache/hearth}/artifacts/mc/<module version>/mc
#
# MinIO's community edition ships as source only, so a from-source build is the way to a
# current, patched server. Idempotent: a binary already cached (with its .sha256) is kept.
#
# Usage: scripts/build-minio.sh [--with-mc]
# Environment: MINIO_GO_VERSION, MC_GO_VERSION override the pins (keep them in step with
# roles/minio/defaults/main.yml); GOFLAGS/GOPROXY are honoured.
set -euo pipefail

MINIO_GO_VERSION="${MINIO_GO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
MC_GO_VERSION="${MC_GO_VERSION:-v0.0.0-20250313080218-cf909e1063a9}"
ARTIFACTS="${HEARTH_CACHE:-$HOME/.cache/hearth}/artifacts"
WITH_MC=false
[[ "${1:-}" == "--with-mc" ]] && WITH_MC=true

command -v go >/dev/null || { echo "build-minio: Go toolchain not found (need go >= 1.24)" >&2; exit 1; }

# build <module> <version> <binary name>
build() {
  local module="$1" version="$2" name="$3"
  local dir="$ARTIFACTS/$name/$version"
  if [[ -x "$dir/$name" && -s "$dir/$name.sha256" ]] \
      && (cd "$dir" && sha256sum --check --status "$name.sha256"); then
    echo "build-minio: $name $version already cached at $dir/$name"
    return 0
  fi
  local gobin
  gobin="$(mktemp -d)"
  trap 'rm -rf "$gobin"' RETURN
  echo "build-minio: building $module@$version (this takes minutes)"
  # Static, stripped, reproducible paths: the same flags upstream's release builds use.
  GOBIN="$gobin" CGO_ENABLED=0 nice -n 10 go install -trimpath -tags kqueue \
    -ldflags "-s -w" "$module@$version"
  mkdir -p "$dir"
  install -m 0755 "$gobin/$name" "$dir/$name.tmp"
  mv -f "$dir/$name.tmp" "$dir/$name"
  (cd "$dir" && sha256sum "$name" > "$name.sha256")
  echo "build-minio: $name $version cached at $dir/$name (sha256 $(cut -d' ' -f1 "$dir/$name.sha256"))"
}

build github.com/minio/minio "$MINIO_GO_VERSION" minio
if $WITH_MC; then
  build github.com/minio/mc "$MC_GO_VERSION" mc
fi
