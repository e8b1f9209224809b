"""Which folders of this computer are removable media (USB sticks, CDs, SD cards) right now.

A folder import may read removable media without an administrator's say-so. /mnt, /media and
/run/media are only where such media are usually mounted: the same folders can hold network
shares or other disks, so a folder there counts only when the file system it lies on was mounted
from a removable device (the kernel's /sys/block/<disk>/removable, or a CD/DVD drive). Anything
else must be allowed by an administrator in Settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MOUNT_PREFIXES = ("/media", "/run/media", "/mnt")
MOUNTS = Path("/proc/self/mounts")
SYS_BLOCK = Path("/sys/block")


def _unescape(field: str) -> str:
    """/proc/mounts writes spaces and tabs in paths as octal escapes (\\040)."""
    return field.encode("latin-1").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def _disk_of(device: str) -> str | None:
    """sdb1 -> sdb, mmcblk0p1 -> mmcblk0, sr0 -> sr0; None for anything that is not a block device."""
    if not device.startswith("/dev/"):
        return None
    name = Path(os.path.realpath(device)).name
    if (SYS_BLOCK / name).is_dir():
        return name
    for disk in (SYS_BLOCK.iterdir() if SYS_BLOCK.is_dir() else []):
        if (disk / name).is_dir():  # a partition's folder sits inside its disk's
            return disk.name
    return None


def is_removable_device(device: str) -> bool:
    disk = _disk_of(device)
    if disk is None:
        return False
    if disk.startswith("sr"):  # CD/DVD drives
        return True
    try:
        return (SYS_BLOCK / disk / "removable").read_text().strip() == "1" or "usb" in os.path.realpath(SYS_BLOCK / disk)
    except OSError:
        return False


def removable_mounts(mounts: Path = MOUNTS) -> list[Path]:
    """Mount points under MOUNT_PREFIXES whose device is removable (Linux); /Volumes on macOS."""
    if sys.platform == "darwin":
        return [Path("/Volumes")]
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 2:
            continue
        point = _unescape(fields[1])
        if any(point == prefix or point.startswith(prefix + "/") for prefix in MOUNT_PREFIXES) and is_removable_device(fields[0]):
            found.append(Path(point))
    return found
