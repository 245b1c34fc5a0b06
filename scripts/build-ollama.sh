#!/usr/bin/env bash
# Builds the Ollama server from its Go module at a pinned version (CPU backend through cgo) and
# caches it where the ollama role's `controller` install source and the molecule hosts find it:
#
#   ${HEARTH_CACHE:-$HOME/.cache/hearth}/artifacts/ollama/<version>/ollama
#   ${HEARTH_CACHE:-$HOME/.cache/hearth}/artifacts/ollama/<version>/ollama.sha256
#
# Molecule mounts .../artifacts read-only at /var/cache/hearth-artifacts on every test host.
# Real GPU hosts use the release archive (ollama_install_source: url) instead: this build has no
# CUDA backend and exists so the lab and the tests run the real server without a download.
#
# Why not plain `go install github.com/ollama/ollama@vX`: Go module archives drop every
# directory named `vendor/`, and llama.cpp's header-only dependencies live in
# llama/llama.cpp/vendor. We rebuild that directory from packaged copies of the same libraries
# (Debian: nlohmann-json3-dev, libstb-dev; PyPI: the miniaudio sdist, which ships miniaudio.h)
# inside a writable copy of the module, then `go build` there.
#
# Usage: scripts/build-ollama.sh [version]      (default: ollama_version in the role defaults)
# Env:   HEARTH_BUILD_JOBS (default 2), GO (default: go on PATH, else /usr/local/go/bin/go),
#        PIP (default: .venv/bin/pip, else pip3)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEFAULT_VERSION=$(sed -n 's/^ollama_version: *"\{0,1\}\([0-9.]*\)"\{0,1\}.*/\1/p' \
  "$ROOT/roles/ollama/defaults/main.yml" 2>/dev/null || true)
VERSION=${1:-$DEFAULT_VERSION}
VERSION=${VERSION#v}
CACHE=${HEARTH_CACHE:-$HOME/.cache/hearth}
DEST="$CACHE/artifacts/ollama/$VERSION"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
PIP=${PIP:-$([ -x "$ROOT/.venv/bin/pip" ] && echo "$ROOT/.venv/bin/pip" || echo pip3)}
JOBS=${HEARTH_BUILD_JOBS:-2}
# Pinned sources of the vendored headers (version of the package, not of llama.cpp).
MINIAUDIO_SDIST=miniaudio==1.71
DEBIAN_HEADERS=(nlohmann-json3-dev libstb-dev)

log() { printf '\033[1m[build-ollama]\033[0m %s\n' "$*" >&2; }

[ -n "$VERSION" ] || { echo "no version given and none found in roles/ollama/defaults/main.yml" >&2; exit 2; }

if [ -x "$DEST/ollama" ] && [ -s "$DEST/ollama.sha256" ] \
   && (cd "$DEST" && sha256sum --quiet -c ollama.sha256); then
  log "ollama $VERSION already built at $DEST/ollama"
  exit 0
fi

[ -x "$GO" ] || command -v "$GO" >/dev/null 2>&1 || { echo "Go toolchain not found (set GO=/path/to/go)" >&2; exit 1; }
for tool in gcc g++ dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || { echo "$tool is needed to build ollama" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
start=$(date +%s)

log "fetching github.com/ollama/ollama@v$VERSION"
moddir=$(GOFLAGS=-mod=mod "$GO" mod download -json "github.com/ollama/ollama@v$VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$moddir" ] || { echo "module download failed for v$VERSION" >&2; exit 1; }
cp -r "$moddir" "$work/src"
chmod -R u+w "$work/src"

log "assembling llama.cpp's vendored headers from Debian and PyPI packages"
vendor="$work/src/llama/llama.cpp/vendor"
mkdir -p "$vendor" "$work/debs" "$work/sdist"
# A fresh machine may have no package index yet: refresh it once and try again.
(cd "$work/debs" && apt-get download "${DEBIAN_HEADERS[@]}" >/dev/null 2>&1) \
  || { apt-get update -qq >/dev/null 2>&1 || true; (cd "$work/debs" && apt-get download "${DEBIAN_HEADERS[@]}" >/dev/null 2>&1); } \
  || { echo "apt-get download ${DEBIAN_HEADERS[*]} failed" >&2; exit 1; }
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/debs/root"; done
cp -r "$work/debs/root/usr/include/nlohmann" "$vendor/"
cp -r "$work/debs/root/usr/include/stb" "$vendor/"
"$PIP" download --quiet --no-deps --no-binary :all: "$MINIAUDIO_SDIST" -d "$work/sdist"
tar -xzf "$work"/sdist/miniaudio-*.tar.gz -C "$work/sdist"
mkdir -p "$vendor/miniaudio"
cp "$work"/sdist/miniaudio-*/miniaudio/miniaudio.h "$vendor/miniaudio/"

log "building (CPU, $JOBS jobs); this takes a while"
# The version is stamped like upstream's release build so `ollama --version` reports it. The
# binary is stripped (-s -w), so cgo's default `-g` would only make the C and C++ compilers
# write debug information the linker then drops: -O2 alone, unless the caller sets the flags.
(cd "$work/src" && CGO_ENABLED=1 GOFLAGS=-mod=mod GOMAXPROCS="$JOBS" \
  CGO_CFLAGS="${CGO_CFLAGS:--O2}" CGO_CXXFLAGS="${CGO_CXXFLAGS:--O2}" \
  nice -n 10 "$GO" build -p "$JOBS" -trimpath \
    -ldflags "-w -s -X=github.com/ollama/ollama/version.Version=$VERSION" -o "$work/ollama" .)

mkdir -p "$DEST"
install -m 0755 "$work/ollama" "$DEST/ollama.tmp"
mv "$DEST/ollama.tmp" "$DEST/ollama"
(cd "$DEST" && sha256sum ollama >ollama.sha256)
log "built in $(( $(date +%s) - start ))s: $DEST/ollama ($(cut -c1-16 "$DEST/ollama.sha256")...)"
