#!/bin/sh
# Pack the built bundle (DIST/CXRWorkstation) with install.sh, uninstall.sh, a run-in-place
# .desktop launcher and a README into DIST/CXRWorkstation-VERSION[EDITION]-linux-ARCH.tar.gz.
#
#   build/linux/make_tarball.sh VERSION [DIST [EDITION]]    (DIST: build/dist; EDITION: -cpu or empty)
#
# gzip -1: the CUDA libraries barely compress at any level, and -1 is several times faster.
set -eu
VERSION=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIST="$ROOT/${2:-build/dist}"
NAME="CXRWorkstation-$VERSION${3:-}-linux-$(uname -m)"
STAGE="$DIST/$NAME"

[ -x "$DIST/CXRWorkstation/CXRWorkstation" ] || { echo "make_tarball.sh: build the bundle first (make bundle)" >&2; exit 1; }
rm -rf "$STAGE"
mkdir -p "$STAGE"
trap 'rm -rf "$STAGE" "$DIST/$NAME.tar.gz.partial"' EXIT
cp -al "$DIST/CXRWorkstation" "$STAGE/CXRWorkstation"  # hard links: no second copy of 5 GB
cp "$ROOT/build/linux/install.sh" "$ROOT/build/linux/uninstall.sh" "$ROOT/build/linux/README.txt" \
   "$ROOT/build/linux/cxr-workstation.desktop" "$STAGE/"
chmod 755 "$STAGE/install.sh" "$STAGE/uninstall.sh" "$STAGE/cxr-workstation.desktop"
tar -C "$DIST" -cf - "$NAME" | gzip -1 > "$DIST/$NAME.tar.gz.partial"
mv "$DIST/$NAME.tar.gz.partial" "$DIST/$NAME.tar.gz"
echo "$DIST/$NAME.tar.gz"
