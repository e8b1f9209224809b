#!/bin/sh
# Install CXR Workstation from this unpacked folder (a USB stick, say). No internet, no Python.
#
#   ./install.sh            as a normal user: for this user, in ~/.local/opt/cxr-workstation
#   sudo ./install.sh       for everyone on this computer, in /opt/cxr-workstation
#   ./install.sh --user     for this user even when run as root
#
# Adds "CXR Workstation" to the applications menu (and to the desktop when there is one). The
# program folder is made read-only: the app keeps everything it writes (database, images, logs,
# backups settings) in the user's data folder, ~/.local/share/CXRWorkstation. Installing a new
# version over an old one keeps that data. Remove with the uninstall.sh the installer leaves in
# the program folder.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE="$HERE/CXRWorkstation"
NAME=cxr-workstation

mode=system
[ "$(id -u)" = 0 ] || mode=user
for arg in "$@"; do
  case "$arg" in
    --user) mode=user ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$mode" = system ]; then
  PREFIX=/opt/$NAME
  SHARE=/usr/share
else
  PREFIX="$HOME/.local/opt/$NAME"
  SHARE="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
APPS="$SHARE/applications"
ICONS="$SHARE/icons/hicolor/256x256/apps"

if [ ! -x "$SOURCE/CXRWorkstation" ]; then
  echo "install.sh: $SOURCE/CXRWorkstation is missing; unpack the whole archive and run install.sh from inside it." >&2
  exit 1
fi
if pgrep -f "^$PREFIX/CXRWorkstation" >/dev/null 2>&1; then
  echo "install.sh: CXR Workstation is running from $PREFIX; close it first." >&2
  exit 1
fi

echo "Installing CXR Workstation into $PREFIX ..."
mkdir -p "$(dirname "$PREFIX")" "$APPS" "$ICONS"
# Copy next to the old version, then swap, so a failed copy never leaves a half-installed program.
STAGING="$PREFIX.new.$$"
trap 'chmod -R u+w "$STAGING" 2>/dev/null; rm -rf "$STAGING"' EXIT
cp -R "$SOURCE" "$STAGING"
cp "$HERE/uninstall.sh" "$STAGING/uninstall.sh"
chmod 755 "$STAGING/uninstall.sh"
if [ -d "$PREFIX" ]; then
  chmod -R u+w "$PREFIX"
  rm -rf "$PREFIX"
fi
mv "$STAGING" "$PREFIX"
trap - EXIT
chmod -R a-w "$PREFIX"

cp "$SOURCE/_internal/ui/static/img/app-icon.png" "$ICONS/$NAME.png"
DESKTOP_FILE="$APPS/$NAME.desktop"
cat > "$DESKTOP_FILE" <<EOF
[Desktop Entry]
Type=Application
Name=CXR Workstation
Comment=Offline chest X-ray AI workstation
Exec="$PREFIX/CXRWorkstation"
Icon=$NAME
Terminal=false
Categories=Science;MedicalSoftware;
StartupWMClass=CXRWorkstation
EOF
chmod 644 "$DESKTOP_FILE"

# A desktop icon for the user who installs (per-user installs only: root has no desktop to use).
if [ "$mode" = user ]; then
  DESKTOP_DIR=$(xdg-user-dir DESKTOP 2>/dev/null || echo "$HOME/Desktop")
  if [ -d "$DESKTOP_DIR" ] && [ "$DESKTOP_DIR" != "$HOME" ]; then
    cp "$DESKTOP_FILE" "$DESKTOP_DIR/$NAME.desktop"
    chmod 755 "$DESKTOP_DIR/$NAME.desktop"
    # GNOME asks before running a launcher that is not marked trusted.
    gio set "$DESKTOP_DIR/$NAME.desktop" metadata::trusted true 2>/dev/null || true
  fi
fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" 2>/dev/null || true

echo "Installed. Start it from the applications menu (CXR Workstation) or run $PREFIX/CXRWorkstation"
echo "To remove it: $PREFIX/uninstall.sh"
