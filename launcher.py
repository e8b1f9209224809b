"""Start the workstation: data directory, database, web server, job worker, window.

    python launcher.py                 window (pywebview) if a display exists, else headless
    python launcher.py --headless      serve only, print the URL (tests, servers)
    python launcher.py --data-dir DIR  use DIR instead of the per-user data directory

Shutdown has one owner, `Launcher.shutdown()`, reached from window close, Ctrl-C or SIGTERM:
the worker stops taking jobs and finishes or re-queues its current one, then the server
closes, then the instance lock is released, and the process exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

# triton (pulled in by torchvision through torch._dynamo) carries its own LLVM; the Mesa OpenGL
# driver that Qt WebEngine loads for the window carries the system's LLVM, and the two in one
# process segfault (seen under Xvfb with llvmpipe). The app never compiles kernels, and the
# installed bundle leaves triton out, so it is made unimportable here too: torch then behaves as
# if triton were not installed.
sys.modules.setdefault("triton", None)  # type: ignore[arg-type]

# Nothing from Django may be imported above this point: the data directory and the settings
# module must be decided first (settings read them at import time).
from app.platform import datadir  # noqa: E402 - after the triton guard above, on purpose

log = logging.getLogger("launcher")

WINDOW_TITLE = "CXR Workstation"
WORKER_JOIN_SECONDS = 60.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Offline chest X-ray AI workstation")
    parser.add_argument("--headless", action="store_true", help="serve without opening a window")
    parser.add_argument("--data-dir", help=f"data directory (default: ${datadir.ENV_VAR} or the per-user folder)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: chosen by the OS)")
    return parser.parse_args(argv)


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Launcher:
    def __init__(self, data_dir: datadir.DataDir, headless: bool, port: int) -> None:
        self.data_dir = data_dir
        self.headless = headless
        self.port = port
        self.stop_event = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._shutdown_started = False
        self._shutdown_done = threading.Event()
        self.server = None
        self.worker = None
        self.worker_thread: threading.Thread | None = None
        self.dicom_receiver = None
        self.window = None

    def start(self) -> str:
        import django

        django.setup()
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application

        from app.jobs.worker import Worker, start_thread
        from app.platform.server import LocalServer
        from app.platform.startup import initialize

        report = initialize(single_workstation=True)
        log.info("Initialised: %s", report)
        from app.backups.restore_at_start import audit_outcome

        audit_outcome(self.data_dir)
        self.server = LocalServer(get_wsgi_application(), port=self.port)
        self.server.start()
        if settings.INPROCESS_WORKER:
            self.worker = Worker()
            self.worker_thread = start_thread(self.worker)
        from app.dicom.receiver import start_if_configured

        self.dicom_receiver = start_if_configured()
        return self.server.url

    def shutdown(self) -> None:
        """The one place the app stops. Idempotent and safe from any thread: later callers wait
        until the first one has finished."""
        with self._shutdown_lock:
            first = not self._shutdown_started
            self._shutdown_started = True
        if not first:
            self._shutdown_done.wait()
            return
        try:
            self._stop_components()
        finally:
            self.stop_event.set()
            self._shutdown_done.set()

    def _stop_components(self) -> None:
        log.info("Shutting down")
        if self.server is not None:
            from app.dicom.receiver import stop_current

            stop_current()  # no new films while the rest stops (also one started later from Settings)
        if self.worker is not None:
            self.worker.stop()
            if self.worker_thread is not None:
                self.worker_thread.join(WORKER_JOIN_SECONDS)
                if self.worker_thread.is_alive():
                    log.warning("The worker did not stop in time; its job will be re-queued at next start")
        if self.server is not None:
            self.server.close()
        log.info("Stopped")


def open_window(url: str, data_dir: datadir.DataDir, on_closed: Callable[[], None], launcher: Launcher | None = None) -> bool:
    """Show the UI in a pywebview window; False if no GUI backend could be started."""
    from app.platform import window_toolkit

    reason = window_toolkit.unavailable_reason()
    if reason is not None:
        log.warning("No window: %s", reason)
        print(f"No application window: {reason}", file=sys.stderr, flush=True)
        return False
    window_toolkit.prepare_environment()
    try:
        import webview
    except ImportError as exc:
        log.warning("pywebview is not available (%s)", exc)
        return False
    # External links (none in the app itself) go to the system browser, not into the window.
    webview.settings["OPEN_EXTERNAL_LINKS_IN_BROWSER"] = True
    # text_select: patient IDs and findings must be copyable; pywebview's default would also
    # inject an inline <style>, which the app's Content-Security-Policy refuses.
    window = webview.create_window(WINDOW_TITLE, url, width=1366, height=768, min_size=(1024, 640), text_select=True)
    window.events.closed += on_closed
    if launcher is not None:
        launcher.window = window
    storage = data_dir.webview_storage
    storage.mkdir(parents=True, exist_ok=True)
    try:
        webview.start(
            gui=window_toolkit.gui_name(), private_mode=False, storage_path=str(storage), icon=str(window_toolkit.WINDOW_ICON)
        )
    except Exception as exc:  # no Qt/WebView2 on this machine
        log.warning("Could not open a window (%s)", exc)
        if launcher is not None:
            launcher.window = None  # never shown: nothing for a signal to close
        return False
    return True


def redirect_missing_console(data_dir: datadir.DataDir) -> None:
    """A windowless build (PyInstaller console=False on Windows) has no stdout/stderr; printing
    would crash. Send them to a log file in the data directory instead."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    stream = (data_dir.logs / "console.log").open("a", encoding="utf-8", buffering=1)
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.name == "posix":
        os.umask(datadir.PRIVATE_UMASK)  # database, images, logs, backups: owner-only from birth
    data_dir = datadir.resolve(args.data_dir)
    os.environ[datadir.ENV_VAR] = str(data_dir.root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    data_dir.prepare()
    redirect_missing_console(data_dir)

    from app.platform.instance import SingleInstance

    instance = SingleInstance(data_dir)
    headless = args.headless or not display_available()
    if not instance.acquire():
        url = instance.running_url()
        if url is None:
            print(f"Another CXR Workstation is starting or stuck on {data_dir.root}; try again shortly.", flush=True)
            return 1
        print(f"CXR Workstation is already running at {url}", flush=True)
        if not headless:
            open_window(url, data_dir, on_closed=lambda: None)
        return 0

    # A restore an administrator chose in the app happens now, before the database is opened.
    from app.backups.restore_at_start import carry_out

    restored = carry_out(data_dir)
    if restored is not None:
        print(("Restored " if restored.get("ok") else "Restore refused: ") + str(restored.get("archive")) + ("" if restored.get("ok") else f" ({restored.get('error')})"), flush=True)

    launcher = Launcher(data_dir, headless=headless, port=args.port)
    try:
        try:
            url = launcher.start()
        except Exception as exc:
            log.exception("Start-up failed")
            print(f"CXR Workstation could not start: {exc}", file=sys.stderr, flush=True)
            return 1
        instance.publish(url)
        print(f"CXR Workstation serving on {url} (data: {data_dir.root})", flush=True)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("Received signal %s", signum)
            window = launcher.window
            if window is not None:
                try:
                    window.destroy()  # ends webview.start(); shutdown follows below
                except Exception:
                    log.exception("Could not close the window")
            threading.Thread(target=launcher.shutdown, name="shutdown").start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        shown = False
        if not headless:
            shown = open_window(url, data_dir, on_closed=lambda: launcher.shutdown(), launcher=launcher)
        if not shown and not headless:
            # A display but no window toolkit (e.g. Linux without GTK/Qt): use the system browser.
            import webbrowser

            webbrowser.open(url)
        if not shown:
            # Headless: the main thread only waits, so signals are handled promptly.
            while not launcher.stop_event.wait(0.5):
                pass
    finally:
        launcher.shutdown()  # the one call on the way out, whatever ended the run
        instance.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
