"""Recognising a full disk, wherever it shows up, so people get a plain message instead of a trace.

A full disk reaches the app as OSError ENOSPC (or EDQUOT, a user's quota) from a file write, or as
SQLite's "database or disk is full" from a database write. Either way nothing must be left
half-written (each writer cleans up in its own `finally`) and the person must be told what to do.

Images are the big writes, so they stop while a reserve is still free (settings.DISK_RESERVE_BYTES,
CXR_DISK_RESERVE_MB): with the disk truly full the database could not even record that an import
stopped, or why. Every page shows a warning once the free space drops below twice the reserve.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

class DiskFull(Exception):
    """Refused before writing: the file would eat into the reserve the database needs."""


def gettext_noop(message: str) -> str:
    """Marks the message for the catalogues; views translate it where it is shown."""
    return message


MESSAGE = gettext_noop(
    "The workstation's disk is full, so nothing was saved. Free some space (for example move old backups "
    "to another disk) or ask the administrator, then try again."
)


def is_disk_full(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # the cause may be wrapped
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "disk is full" in str(current).lower() and current.__class__.__name__ == "OperationalError":
            return True
        current = current.__cause__ or current.__context__
    return False


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def reserve_bytes() -> int:
    from django.conf import settings

    return settings.DISK_RESERVE_BYTES


def ensure_room(path: Path, size: int) -> None:
    """Raise DiskFull unless `size` bytes can be written at `path` and the reserve stays free."""
    if free_bytes(path) - size < reserve_bytes():
        raise DiskFull(MESSAGE)


def low_space(path: Path) -> int | None:
    """Free bytes at `path` when under twice the reserve (warn the person at the screen), else None."""
    try:
        free = free_bytes(path)
    except OSError:
        return None
    return free if free < 2 * reserve_bytes() else None
