#!/bin/sh
# Remove CXR Workstation (the program, its menu entry, desktop icon and icon).
#
#   uninstall.sh                 remove the program; keep the patient data
#   uninstall.sh --remove-data   also delete this user's data folder (asks you to type DELETE)
#
# Patient data (database, images, reports, logs) lives in the user's data folder,
# ${XDG_DATA_HOME:-~/.local/share}/CXRWorkstation, and is kept unless you ask: reinstalling finds
# it again. Backups written to a folder of your choice are never touched.
set -eu

PREFIX=$(cd "$(dirname "$0")" && pwd)
NAME=cxr-workstation
DATA="${XDG_DATA_HOME:-$HOME/.local/share}/CXRWorkstation"

remove_data=no
for arg in "$@"; do
  case "$arg" in
    --remove-data) remove_data=yes ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

if [ ! -x "$PREFIX/CXRWorkstation" ]; then
  echo "uninstall.sh: $PREFIX does not look like a CXR Workstation install; nothing removed." >&2
  exit 1
fi
if pgrep -f "^$PREFIX/CXRWorkstation" >/dev/null 2>&1; then
  echo "uninstall.sh: CXR Workstation is running; close it first." >&2
  exit 1
fi

case "$PREFIX" in
  /opt/*) SHARE=/usr/share ;;
  *) SHARE="${XDG_DATA_HOME:-$HOME/.local/share}" ;;
esac
rm -f "$SHARE/applications/$NAME.desktop" "$SHARE/icons/hicolor/256x256/apps/$NAME.png"
DESKTOP_DIR=$(xdg-user-dir DESKTOP 2>/dev/null || echo "$HOME/Desktop")
rm -f "$DESKTOP_DIR/$NAME.desktop"
chmod -R u+w "$PREFIX"
rm -rf "$PREFIX"
echo "CXR Workstation removed from $PREFIX."

if [ "$remove_data" = yes ] && [ -d "$DATA" ]; then
  printf 'Delete ALL patient data, images and reports in %s? Type DELETE to confirm: ' "$DATA"
  read -r answer
  if [ "$answer" = DELETE ]; then
    rm -rf "$DATA"
    echo "Data folder deleted."
  else
    echo "Data folder kept."
  fi
elif [ -d "$DATA" ]; then
  echo "Patient data kept in $DATA (reinstalling finds it again)."
fi
