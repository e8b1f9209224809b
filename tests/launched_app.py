"""Run the real launcher as a subprocess on a temporary data directory (for end-to-end tests)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OFFLINE_GUARD = Path(__file__).resolve().parent / "offline_guard"
START_TIMEOUT = 90.0


def wait_for(predicate, timeout: float = 60.0, what: str = "condition", interval: float = 0.1):  # noqa: ANN001, ANN201
    """Poll `predicate` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not met within {timeout:.0f} s")


class LaunchedApp:
    def __init__(
        self, data_dir: Path, *, offline_guard: bool = False, env: dict[str, str] | None = None, headless: bool = True,
        wrapper: list[str] | None = None,
    ) -> None:
        """wrapper: a command the launcher runs under (for example strace and its options)."""
        self.data_dir = data_dir
        self.headless = headless
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "app.settings",
            "CXR_DATA_DIR": str(data_dir),
            "CXR_ENABLE_DIAGNOSTIC_JOBS": "1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        if offline_guard:
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(OFFLINE_GUARD), self.env.get("PYTHONPATH")]))
            self.env["CXR_OFFLINE_GUARD_LOG"] = str(data_dir / "blocked-connections.log")
        self.wrapper = wrapper or []
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_path = data_dir.parent / f"{data_dir.name}-launcher.log"

    # -- process control -------------------------------------------------------------------

    def start(self, wait: bool = True) -> LaunchedApp:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [*self.wrapper, sys.executable, str(REPO / "launcher.py"), *(["--headless"] if self.headless else []), "--data-dir", str(self.data_dir)],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if wait:
            self.wait_until_healthy()
        return self

    def wait_until_healthy(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"launcher exited with {self.proc.returncode}:\n{self.output()}")
            try:
                info = json.loads((self.data_dir / "server.json").read_text())
                if info.get("pid") == self.app_pid(info):
                    self.url = info["url"]
                    health = self.get_json("health")
                    if health["worker"]["alive"]:
                        return health
            except (OSError, ValueError, KeyError) as exc:
                last_error = exc
            time.sleep(0.2)
        raise TimeoutError(f"launcher not healthy after {timeout}s ({last_error}):\n{self.output()}")

    def app_pid(self, info: dict[str, Any] | None = None) -> int:
        """The launcher's own process id (under a wrapper, the wrapper's child)."""
        assert self.proc is not None
        if not self.wrapper:
            return self.proc.pid
        info = info if info is not None else json.loads((self.data_dir / "server.json").read_text())
        pid = int(info.get("pid", -1))
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return -2
        return pid if parent == self.proc.pid else -2

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.wrapper:
            os.kill(self.app_pid(), signal.SIGTERM)  # the app, not the wrapper: its exit ends the wrapper
        else:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    # -- talking to it ---------------------------------------------------------------------

    def get_json(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def manage(self, code: str) -> str:
        """Run Python inside a Django shell on the same data directory; returns its stdout."""
        done = subprocess.run(
            [sys.executable, str(REPO / "manage.py"), "shell", "-c", code],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py shell failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the app's SQLite database directly (read-only)."""
        uri = f"file:{self.data_dir / 'db.sqlite3'}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, timeout=10)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()


class WebClient:
    """A logged-in person talking to a launched app over HTTP (cookies, CSRF, multipart forms)."""

    def __init__(self, app: LaunchedApp) -> None:
        import http.cookiejar

        self.app = app
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def _csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, path: str, fields: dict[str, str] | None = None, files: dict[str, tuple[str, bytes]] | None = None, timeout: float = 60) -> tuple[int, str, str]:
        """(status, Location header, body) of a GET (no fields) or a POST."""
        import urllib.error
        import uuid

        data, headers = None, {"Referer": self.app.url}
        if fields is not None or files:
            fields = {"csrfmiddlewaretoken": self._csrf(), **(fields or {})}
            boundary = uuid.uuid4().hex
            parts = []
            for name, value in fields.items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
            for name, (filename, content) in (files or {}).items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode() + content + b"\r\n")
            data = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        req = urllib.request.Request(self.app.url + path.lstrip("/"), data=data, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as response:
                return response.status, response.headers.get("Location", ""), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location", ""), exc.read().decode("utf-8", "replace")

    def login(self, username: str, password: str) -> None:
        self.request("login/")
        status, location, body = self.request("login/", {"username": username, "password": password})
        if status != 302:
            raise RuntimeError(f"login as {username} failed ({status})")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None
