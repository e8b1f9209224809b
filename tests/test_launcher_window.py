"""The launcher with its real window: Qt WebEngine through pywebview on a virtual X display.

Screenshots go to test-artifacts/window/.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.platform import window_toolkit
from tests.launched_app import REPO, LaunchedApp, wait_for
from tests.x11_display import VirtualDisplay, unavailable_reason

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "window"
WINDOW_TITLE = "CXR Workstation"




def test_it_shows_the_first_screen_in_a_real_window_and_exits_cleanly_when_it_is_closed(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    data_dir = tmp_path / "data"
    with VirtualDisplay() as display:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in display.env().items():
                mp.setenv(key, value)
            mp.delenv("WAYLAND_DISPLAY", raising=False)
            toolkit_problem = window_toolkit.unavailable_reason()
        if toolkit_problem:
            pytest.skip(f"the window toolkit cannot start here: {toolkit_problem}")
        app = LaunchedApp(data_dir, headless=False, offline_guard=True, env=display.env())
        app.start()
        try:
            window_id, seconds = display.wait_for_first_screen(WINDOW_TITLE, timeout=120, alive=lambda: app.proc.poll() is None)
            shot = display.save_screenshot(ARTIFACTS / "first-screen.png")
            geometry = display.geometry(window_id)
            # The window opens at the size the launcher asks for, which fits a 1366x768 laptop.
            assert (geometry.width, geometry.height) == (1366, 768)
            print(f"window painted {seconds:.1f} s after the launcher was healthy; screenshot {shot}")

            requests = display.close_until_gone(WINDOW_TITLE, alive=lambda: app.proc.poll() is None)
            print(f"closed after {requests} close request(s)")
            code = app.proc.wait(10)
        finally:
            app.stop_quietly()
    output = app.output()
    assert code == 0, output
    assert "Stopped" in output
    assert not (data_dir / "launcher.lock").exists()
    assert not (data_dir / "server.json").exists()
    # The page's console in the window (Qt prints it as "js: ..."): no Content-Security-Policy
    # refusals, e.g. from styles pywebview would inject.
    assert "Content Security Policy" not in output, output
    blocked = data_dir / "blocked-connections.log"
    assert not blocked.exists() or blocked.read_text() == "", blocked.read_text()


def test_it_opens_the_system_browser_when_the_window_toolkit_cannot_start(tmp_path: Path) -> None:
    """Qt aborts the whole process when its platform plugin cannot load; the launcher must notice
    first and fall back to the browser, with the server still running."""
    opened = tmp_path / "browser-opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    env = {"DISPLAY": ":99", "QT_QPA_PLATFORM": "no-such-platform", "BROWSER": str(browser)}
    app = LaunchedApp(tmp_path / "data", headless=False, env=env)
    app.env.pop("WAYLAND_DISPLAY", None)
    app.start()
    try:
        url = wait_for(lambda: opened.exists() and opened.read_text().strip(), 30, "the system browser to be opened")
        assert url == app.url
        assert app.get_json("health")["status"] == "ok"
        assert "No application window: Qt has no platform plugin libqno-such-platform.so" in app.output()
    finally:
        code = app.terminate()
    assert code == 0, app.output()


def test_it_names_the_library_when_a_platform_plugin_cannot_load(tmp_path: Path) -> None:
    broken = tmp_path / "libqxcb.so"
    broken.write_bytes(b"not a shared object")
    message = window_toolkit.plugin_load_error(broken)
    assert message is not None and "libqxcb.so" in message and "cannot load" in message
    assert window_toolkit.plugin_load_error(tmp_path / "libqmissing.so") == "Qt has no platform plugin libqmissing.so"


@pytest.mark.skipif(os.name != "posix" or not hasattr(os, "geteuid"), reason="POSIX only")
def test_it_disables_the_webengine_sandbox_only_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QTWEBENGINE_DISABLE_SANDBOX", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    window_toolkit.prepare_environment()
    assert "QTWEBENGINE_DISABLE_SANDBOX" not in os.environ
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    window_toolkit.prepare_environment()
    assert os.environ["QTWEBENGINE_DISABLE_SANDBOX"] == "1"
