#!/usr/bin/env bash
# Build Caddy from its Go module at the pinned release and pack it the way upstream's release
# archive is packed, so the `caddy` role's `url` install source (checksum included) can install
# it from a file:// URL on test and lab hosts:
#
#   ${HEARTH_CACHE:-$HOME/.cache/hearth}/artifacts/caddy/<version>/caddy_<version>_linux_amd64.tar.gz
#   ... .tar.gz.sha512 (the hex digest the role's caddy_url_checksums takes)
#
# Debian 13's and Ubuntu 24.04's caddy packages are 2.6, whose request metrics carry no site;
# 2.8 and later label them per site, which the platform's per-service alerts need. GitHub's
# release downloads cannot be reached here; Go's module proxy can. Idempotent: a cached archive
# whose checksum matches is kept.
#
# Usage: scripts/build-caddy.sh
# Environment: CADDY_VERSION overrides the pin (keep it in step with roles/caddy/defaults/main.yml).
set -euo pipefail

CADDY_VERSION="${CADDY_VERSION:-2.10.2}"
DIR="${HEARTH_CACHE:-$HOME/.cache/hearth}/artifacts/caddy/$CADDY_VERSION"
ARCHIVE="caddy_${CADDY_VERSION}_linux_amd64.tar.gz"

command -v go >/dev/null || { echo "build-caddy: Go toolchain not found (need go >= 1.24)" >&2; exit 1; }

if [[ -s "$DIR/$ARCHIVE" && -s "$DIR/$ARCHIVE.sha512" ]] \
    && [[ "$(sha512sum "$DIR/$ARCHIVE" | cut -d' ' -f1)" == "$(cat "$DIR/$ARCHIVE.sha512")" ]]; then
  echo "build-caddy: caddy $CADDY_VERSION already cached at $DIR/$ARCHIVE"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "build-caddy: building github.com/caddyserver/caddy/v2@v$CADDY_VERSION (this takes minutes)"
# A main module that requires Caddy, as xcaddy makes one: `go install .../cmd/caddy@v` builds
# Caddy as the main module, and such a binary reports its version as "unknown".
mkdir "$work/src"
cat > "$work/src/main.go" <<'GO'
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
GO
(
  cd "$work/src"
  go mod init hearth.local/caddy >/dev/null 2>&1
  go mod edit -require="github.com/caddyserver/caddy/v2@v$CADDY_VERSION"
  go mod tidy >/dev/null 2>&1
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$work/caddy" .
)
"$work/caddy" version | grep -q "^v$CADDY_VERSION" || { echo "build-caddy: built binary is not v$CADDY_VERSION" >&2; exit 1; }
mkdir -p "$DIR"
# A reproducible archive: fixed order, times and owners, no name or time in the gzip header.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf - caddy | gzip -n -9 > "$DIR/$ARCHIVE.tmp"
mv -f "$DIR/$ARCHIVE.tmp" "$DIR/$ARCHIVE"
sha512sum "$DIR/$ARCHIVE" | cut -d' ' -f1 > "$DIR/$ARCHIVE.sha512"
echo "build-caddy: caddy $CADDY_VERSION cached at $DIR/$ARCHIVE (sha512 $(cut -c1-16 "$DIR/$ARCHIVE.sha512")...)"
