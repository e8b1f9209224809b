"""A virtual X display (Xvfb) for checking the app's real window: start it, find a top-level
window by title, photograph the screen, close a window the way a window manager's close button
does (WM_DELETE_WINDOW), and tell whether the web page inside has painted.

Used by tests/test_launcher_window.py and build/smoke_test.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCREEN = "1440x900x24"
# The app's page background (--bg in ui/static/css/app.css). A painted first screen is mostly this
# colour with text on it; a window that has not painted yet is uniformly white or black.
PAGE_BACKGROUND = (0x14, 0x17, 0x1C)


def unavailable_reason() -> str | None:
    if shutil.which("Xvfb") is None:
        return "needs Xvfb (Debian package xvfb; .ci/run installs it)"
    try:
        import Xlib.display  # noqa: F401
        from PIL import ImageGrab  # noqa: F401
    except ImportError as exc:
        return f"needs python-xlib and Pillow: {exc}"
    return None


@dataclass
class Geometry:
    x: int
    y: int
    width: int
    height: int


class VirtualDisplay:
    def __init__(self, screen: str = SCREEN) -> None:
        self.screen = screen
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = ""

    def __enter__(self) -> VirtualDisplay:
        read_fd, write_fd = os.pipe()
        # -displayfd: Xvfb picks a free display number and writes it to the pipe once it is ready.
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", self.screen, "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.proc.kill()
            raise RuntimeError("Xvfb did not start")
        self.name = f":{number}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def env(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if key != "WAYLAND_DISPLAY"}
        environment["DISPLAY"] = self.name
        return environment

    # -- windows -------------------------------------------------------------------------

    def _display(self):  # noqa: ANN202
        from Xlib import display

        return display.Display(self.name)

    def find_window(self, title: str) -> int | None:
        """The id of a mapped top-level window whose title is `title`, if there is one."""
        from Xlib import X
        from Xlib.error import XError

        d = self._display()
        try:
            for child in d.screen().root.query_tree().children:
                # A window listed by query_tree can be destroyed before the next request reaches the
                # server (a splash or a Qt helper window closing while the app starts): seen once in CI
                # as BadWindow from get_attributes. Such a window is simply not the one we look for.
                try:
                    attributes = child.get_attributes()
                    if attributes.map_state != X.IsViewable:
                        continue
                    name = child.get_full_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"))
                    text = name.value.decode() if name is not None else child.get_wm_name()
                except XError:
                    continue
                if text == title:
                    return child.id
            return None
        finally:
            d.close()

    def geometry(self, window_id: int) -> Geometry:
        d = self._display()
        try:
            g = d.create_resource_object("window", window_id).get_geometry()
            return Geometry(g.x, g.y, g.width, g.height)
        finally:
            d.close()

    def close_until_gone(self, title: str, alive, timeout: float = 120.0, every: float = 15.0) -> int:  # noqa: ANN001
        """Close the window as a user would, clicking again every `every` seconds while the app
        stays up, until `alive()` is false; returns how many close requests it took.

        Under heavy CPU starvation (three busy loops on two cores) Qt WebEngine windows were seen
        to leave a close request unprocessed for 40 s and more; with the machine otherwise idle the
        first request always closed the window."""
        started = time.monotonic()
        requests = 0
        while alive():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the app did not exit within {timeout:.0f} s of {requests} close requests")
            window_id = self.find_window(title)
            if window_id is not None:
                self.close_window(window_id)
                requests += 1
            deadline = time.monotonic() + every
            while alive() and time.monotonic() < deadline:
                time.sleep(0.1)
        return requests

    def close_window(self, window_id: int) -> None:
        """Ask the window to close, as a window manager's close button does."""
        from Xlib import X
        from Xlib.protocol import event

        d = self._display()
        try:
            window = d.create_resource_object("window", window_id)
            message = event.ClientMessage(
                window=window,
                client_type=d.intern_atom("WM_PROTOCOLS"),
                data=(32, [d.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]),
            )
            window.send_event(message, event_mask=X.NoEventMask)
            d.flush()
        finally:
            d.close()

    # -- pictures ------------------------------------------------------------------------

    def screenshot(self):  # noqa: ANN201  (PIL.Image.Image)
        from PIL import ImageGrab

        return ImageGrab.grab(xdisplay=self.name)

    def page_painted(self, window_id: int) -> bool:
        """True once the window shows the app's page: mostly its background colour, with text."""
        g = self.geometry(window_id)
        image = self.screenshot().crop((g.x, g.y, g.x + g.width, g.y + g.height)).convert("RGB")
        pixels = np.asarray(image.resize((g.width // 4, g.height // 4)), dtype=np.int16).reshape(-1, 3)
        on_background = (np.abs(pixels - np.array(PAGE_BACKGROUND)) <= 3).all(axis=1).mean()
        distinct_colours = len(np.unique(pixels, axis=0))
        return bool(on_background > 0.3 and distinct_colours > 50)

    def wait_for_first_screen(self, title: str, timeout: float, alive=lambda: True) -> tuple[int, float]:  # noqa: ANN001
        """Wait for the titled window to appear and paint the page; (window id, seconds waited)."""
        started = time.monotonic()
        window_id: int | None = None
        while time.monotonic() - started < timeout:
            if not alive():
                raise RuntimeError("the app exited before its window showed the first screen")
            window_id = self.find_window(title)
            try:
                if window_id is not None and self.page_painted(window_id):
                    return window_id, time.monotonic() - started
            except Exception:  # noqa: BLE001  (Xlib error: the window went away between the calls)
                pass
            time.sleep(0.1)
        raise TimeoutError(f"no painted window titled {title!r} after {timeout} s (window found: {window_id is not None})")

    def save_screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.screenshot().save(path)
        return path
