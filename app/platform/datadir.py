"""The one per-user data directory that holds every piece of state the app writes.

The install folder is read-only at run time; everything mutable lives here:

    <data dir>/
        db.sqlite3            the database (WAL mode: db.sqlite3-wal / -shm beside it)
        secret_key            per-install Django secret key, owner-only permissions
        images/originals/     uploaded files, stored unchanged, named by sha256
        images/derived/       display copies, heatmaps, overlays
        logs/                 rotating log files
        cache/                diskcache (Django cache backend)
        model_packs/          packs imported after installation
        backups/              database copies taken before migrations, and backups
        launcher.lock         held by the running launcher (single instance)
        server.json           URL and pid of the running launcher

This module must not import Django: the launcher resolves the directory before Django starts.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "CXRWorkstation"
APP_AUTHOR = "CXRWorkstation"
ENV_VAR = "CXR_DATA_DIR"
SECRET_KEY_BYTES = 50
# Patient data: folders closed to other local accounts; new files owner-only (launcher.py sets
# the umask to PRIVATE_UMASK for the whole process).
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "db.sqlite3"

    @property
    def secret_key_file(self) -> Path:
        return self.root / "secret_key"

    @property
    def originals(self) -> Path:
        return self.root / "images" / "originals"

    @property
    def derived(self) -> Path:
        return self.root / "images" / "derived"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def model_packs(self) -> Path:
        return self.root / "model_packs"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def webview_storage(self) -> Path:
        return self.root / "webview"

    @property
    def lock_file(self) -> Path:
        return self.root / "launcher.lock"

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    def prepare(self) -> None:
        """Create the folder tree and the secret key. Safe to call repeatedly.

        The tree holds patient data: on POSIX every folder is made owner-only (0700), which closes
        everything below it to other local accounts, including files written before this rule."""
        for folder in (
            self.root,
            self.originals,
            self.derived,
            self.logs,
            self.cache,
            self.model_packs,
            self.backups,
        ):
            folder.mkdir(parents=True, exist_ok=True)
            if os.name == "posix":
                folder.chmod(PRIVATE_FOLDER_MODE)
        read_or_create_secret_key(self.secret_key_file)


def tighten_permissions(root: Path) -> int:
    """Owner-only modes (folders 0700, files 0600) for everything below root that is more open:
    files restored from a backup, copied in by hand or written under another umask. Links are
    left alone (never followed). Returns how many were changed."""
    if os.name != "posix":
        return 0
    changed = 0
    for current, folders, files in os.walk(root, followlinks=False):
        for name, wanted in [(f, PRIVATE_FOLDER_MODE) for f in folders] + [(f, PRIVATE_FILE_MODE) for f in files]:
            path = os.path.join(current, name)
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode) or stat.S_IMODE(mode) & 0o077 == 0:
                    continue
                os.chmod(path, stat.S_IMODE(mode) & wanted)
                changed += 1
            except OSError:
                continue  # vanished meanwhile, or not ours: nothing to tighten
    return changed


def resolve(explicit: str | os.PathLike[str] | None = None) -> DataDir:
    """The data directory: --data-dir flag, else $CXR_DATA_DIR, else the platform's user data dir."""
    chosen = explicit or os.environ.get(ENV_VAR) or platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)
    return DataDir(Path(chosen).expanduser().resolve())


def read_or_create_secret_key(path: Path) -> str:
    """Return the install's secret key, creating it (mode 0600) on first use.

    The key is written to a private temporary file and hard-linked into place: the link fails
    if another process got there first, so two processes starting together agree on one key
    and nobody ever reads a half-written file.
    """
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(SECRET_KEY_BYTES))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise RuntimeError(f"The secret key file {path} is empty; delete it to create a new one.")
    return key
