#!/usr/bin/env bash
# STAND-IN for a vendor's signed apt repository (Docker's download.docker.com), test hosts only.
# The real repository cannot be reached here, so this builds one with the same published layout
# and signature chain, holding empty packages of the vendor's names (each may depend on
# distribution packages). What apt checks is real: the key the role downloads, the clearsigned
# InRelease, the Packages checksums, Signed-By.
#
# Layout (https://download.docker.com/linux/debian, "deb [signed-by=...] <base> <suite> stable"):
#   ROOT/gpg                                    armored public key
#   ROOT/dists/SUITE/InRelease, Release         signed with that key
#   ROOT/dists/SUITE/COMPONENT/binary-ARCH/Packages
#   ROOT/pool/COMPONENT/NAME_VERSION_all.deb
#
# Usage: apt_repo_standin.sh ROOT SUITE COMPONENT NAME=VERSION=[DEPENDS]...
# Prints the signing key's fingerprint on stdout. A new key on every run.
set -euo pipefail

root=$1 suite=$2 component=$3
shift 3
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"

rm -rf "$root"
mkdir -p "$root/dists/$suite/$component/binary-$arch" "$root/pool/$component"

gpg --batch --quiet --passphrase '' --quick-gen-key 'Hearth apt stand-in <standin@hearth.test>' ed25519 sign 1d
fingerprint=$(gpg --with-colons --list-keys | awk -F: '$1 == "fpr" { print $10; exit }')
gpg --armor --export "$fingerprint" > "$root/gpg"

for spec in "$@"; do
  IFS='=' read -r name version depends <<< "$spec"
  pkg="$work/$name"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/doc/$name"
  echo "Stand-in package built by Hearth's tests." > "$pkg/usr/share/doc/$name/README.standin"
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: all"
    echo "Maintainer: Hearth tests <standin@hearth.test>"
    if [ -n "$depends" ]; then echo "Depends: $depends"; fi
    echo "Description: stand-in for $name (test hosts only)"
    echo " An empty package${depends:+ that pulls in $depends}."
  } > "$pkg/DEBIAN/control"
  deb="pool/$component/${name}_${version#*:}_all.deb"
  dpkg-deb --root-owner-group --build "$pkg" "$root/$deb" > /dev/null
  {
    cat "$pkg/DEBIAN/control"
    echo "Filename: $deb"
    echo "Size: $(stat -c %s "$root/$deb")"
    echo "SHA256: $(sha256sum "$root/$deb" | cut -d' ' -f1)"
    echo
  } >> "$root/dists/$suite/$component/binary-$arch/Packages"
done

cd "$root/dists/$suite"
packages="$component/binary-$arch/Packages"
{
  echo "Origin: Hearth stand-in"
  echo "Label: Hearth stand-in"
  echo "Suite: $suite"
  echo "Codename: $suite"
  echo "Architectures: $arch"
  echo "Components: $component"
  echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
  echo "SHA256:"
  echo " $(sha256sum "$packages" | cut -d' ' -f1) $(stat -c %s "$packages") $packages"
} > Release
gpg --batch --yes --local-user "$fingerprint" --clearsign --output InRelease Release
echo "$fingerprint"
