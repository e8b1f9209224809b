"""Which pywebview backend opens the window on this OS, and whether it can start at all.

On Linux the window is Qt WebEngine (PyQt6). Qt does not raise when its X11 platform plugin
cannot load a system library (libxcb-cursor0 is the usual one missing): it prints a message and
aborts the whole process, taking the server and the worker with it. So before pywebview is asked
for a window, the plugin is loaded here with ctypes; a missing library becomes a readable reason
and the launcher opens the system browser instead of dying.

Windows uses Edge WebView2 and macOS WKWebView; pywebview picks those itself.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

from app.platform.install_dir import UI_DIR

log = logging.getLogger(__name__)

LINUX_GUI = "qt"
# Drawn by build/icons/make_icons.py; also the page favicon and the Linux launcher icon.
WINDOW_ICON = UI_DIR / "static" / "img" / "app-icon.png"


def gui_name() -> str | None:
    """The pywebview `gui` to ask for, or None to let pywebview choose."""
    return LINUX_GUI if sys.platform.startswith("linux") else None


def prepare_environment() -> None:
    """Environment Qt WebEngine reads at start-up; call before pywebview is imported."""
    if not sys.platform.startswith("linux"):
        return
    # Chromium's sandbox refuses to run as root (CI containers, some kiosk set-ups). Without this
    # the page area stays blank; with it the renderer runs unsandboxed, which is logged.
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "QTWEBENGINE_DISABLE_SANDBOX" not in os.environ:
        log.warning("Running as root: Qt WebEngine's renderer sandbox is disabled")
        os.environ["QTWEBENGINE_DISABLE_SANDBOX"] = "1"


def _platform_plugin_name() -> str | None:
    """The platform plugin Qt will load for this session: X11 unless told otherwise."""
    wanted = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if wanted:
        return wanted
    # Wayland only: Qt picks among its several wayland plugins; nothing cheap to check.
    return "xcb" if os.environ.get("DISPLAY") else None


def plugin_load_error(plugin: Path) -> str | None:
    """Why the dynamic loader cannot load `plugin` (a missing system library, usually), or None."""
    if not plugin.exists():
        return f"Qt has no platform plugin {plugin.name}"
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return f"Qt's {plugin.name} platform plugin cannot load ({exc}); install the system package that provides it (on Debian/Ubuntu, usually libxcb-cursor0)"
    return None


def unavailable_reason() -> str | None:
    """None when the window toolkit can start here, else why not (for the log and the console)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from PyQt6 import QtCore
        from PyQt6 import QtWebEngineWidgets  # noqa: F401  (the widget pywebview shows)
    except ImportError as exc:
        return f"Qt WebEngine (PyQt6) cannot be imported: {exc}"
    name = _platform_plugin_name()
    if name is None:
        return None
    plugins_dir = Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath))
    return plugin_load_error(plugins_dir / "platforms" / f"libq{name}.so")
