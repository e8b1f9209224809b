"""One launcher per data directory.

The launcher holds an OS file lock on <data dir>/launcher.lock for its whole life (the OS drops
it if the process dies, so a crash never leaves a stale lock) and publishes its URL in
server.json. A second launch finds the lock held and reuses the running server instead of
starting another one against the same database.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from filelock import FileLock, Timeout

from app.platform.datadir import DataDir


class SingleInstance:
    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir
        self._lock = FileLock(str(data_dir.lock_file))

    def acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def publish(self, url: str) -> None:
        info = {"url": url, "pid": os.getpid()}
        tmp = self.data_dir.server_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, self.data_dir.server_file)

    def release(self) -> None:
        self.data_dir.server_file.unlink(missing_ok=True)
        if self._lock.is_locked:
            # Unlink while still holding the lock: filelock notices a waiter's unlinked inode and
            # retries on a fresh file, so removing it cannot let two launchers in.
            Path(self.data_dir.lock_file).unlink(missing_ok=True)
            self._lock.release(force=True)

    def running_url(self) -> str | None:
        """The URL of the launcher that holds the lock, if it answers /health."""
        try:
            info = json.loads(self.data_dir.server_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        url = info.get("url")
        if not isinstance(url, str) or not url.startswith("http://127.0.0.1:"):
            return None
        try:
            with urllib.request.urlopen(url + "health", timeout=5) as response:
                return url if response.status in (200, 503) else None
        except OSError:
            return None
