"""Backups of the whole data directory, and restore into an empty one. No Django needed.

    python -m app.backups.archive create [--data-dir D] --to FOLDER [--keep 7]
    python -m app.backups.archive verify ARCHIVE
    python -m app.backups.archive restore ARCHIVE --data-dir EMPTY_FOLDER

An archive is one zip: a consistent snapshot of the SQLite database taken with SQLite's online
backup API (safe while the app runs; a file copy of a live WAL database is not), every stored
original and derived image, imported model packs, and manifest.json listing every member with
its size and sha256. It is written as NAME.partial, verified by reading it back, and only then
renamed, so a failed or interrupted backup leaves no archive that looks complete, and the live
data directory is only ever read. Old archives beyond --keep are removed after a good one.
"""

from __future__ import annotations

import argparse
import hashlib
from contextlib import closing
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from app import __version__

from app.platform import datadir, disk_full, faults
from app.platform.checksums import sha256_of

PREFIX = "cxr-backup-"
MANIFEST = "manifest.json"
DB_NAME = "db.sqlite3"
FOLDERS = ("images/originals", "images/derived", "model_packs")
# Jobs that act on the computer the backup was made on (its backup folder, its PACS connection).
# A restored database still holds them as queued or running; they must not run here: the
# administrator backs up or sends again from the restored app if that is wanted.
MACHINE_BOUND_JOBS = ("maintenance.backup", "clinical.send_result")
RETIRED_MESSAGE = "Not run: this job was waiting when the backup was made, and belongs to the computer it was made on."


class BackupError(Exception):
    pass


def snapshot_database(source: Path, target: Path) -> dict[str, int]:
    """Online backup of a (possibly live) SQLite database; returns row counts of key tables."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            tables = {row[0] for row in dst.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            counts = {t: dst.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in ("clinical_patient", "clinical_study", "clinical_review", "auth_user") if t in tables}
            if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError("the database snapshot failed SQLite's integrity check")
        finally:
            dst.close()
    finally:
        src.close()
    return counts


def create(data: datadir.DataDir, destination: Path, keep: int = 7) -> Path:
    if not data.db_path.is_file():
        raise BackupError(f"there is no database in {data.root}")
    destination.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{datetime.now():%Y%m%d-%H%M%S}.zip"
    final = destination / name
    partial = destination / (name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix="cxr-backup-", dir=data.backups) as tmp:
            snapshot = Path(tmp) / DB_NAME
            counts = snapshot_database(data.db_path, snapshot)
            files: list[tuple[Path, str]] = [(snapshot, DB_NAME)]
            for folder in FOLDERS:
                base = data.root / folder
                if base.is_dir():
                    for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".incoming")):
                        files.append((path, path.relative_to(data.root).as_posix()))
            entries = []
            try:
                with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                    for index, (path, arcname) in enumerate(files):
                        entries.append({"path": arcname, "size": path.stat().st_size, "sha256": sha256_of(path)})
                        zf.write(path, arcname)
                        if index == len(files) // 2:
                            faults.point("backup-archive")  # half the files are in the .partial archive
                    manifest = {"format": 1, "app_version": __version__, "created": datetime.now().isoformat(timespec="seconds"), "counts": counts, "files": entries}
                    zf.writestr(MANIFEST, json.dumps(manifest, indent=2))
                verify(partial)
                os.replace(partial, final)
            finally:
                partial.unlink(missing_ok=True)
    except (OSError, sqlite3.OperationalError) as exc:
        if disk_full.is_disk_full(exc):
            raise BackupError(f"a disk is full (the backup folder {destination}, or the data folder where the database snapshot is taken); no archive was written. Free space or choose another backup folder.") from exc
        raise
    rotate(destination, keep)
    return final


def rotate(destination: Path, keep: int) -> list[Path]:
    archives = sorted(destination.glob(f"{PREFIX}*.zip"))
    removed = archives[:-keep] if keep > 0 else []
    for old in removed:
        old.unlink(missing_ok=True)
    return removed


def verify(archive: Path) -> dict[str, Any]:
    """Read every member back and compare it with the manifest; returns the manifest."""
    try:
        with zipfile.ZipFile(archive) as zf:
            manifest = json.loads(zf.read(MANIFEST))
            names = set(zf.namelist()) - {MANIFEST}
            listed = {entry["path"] for entry in manifest["files"]}
            if names != listed:
                raise BackupError(f"{archive.name}: the archive's files do not match its manifest")
            for entry in manifest["files"]:
                if ".." in Path(entry["path"]).parts or entry["path"].startswith("/"):
                    raise BackupError(f"{archive.name}: unsafe path {entry['path']!r}")
                digest = hashlib.sha256()
                with zf.open(entry["path"]) as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
                if digest.hexdigest() != entry["sha256"]:
                    raise BackupError(f"{archive.name}: {entry['path']} is damaged (checksum mismatch)")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as exc:
        raise BackupError(f"{archive.name} is not a readable backup ({exc.__class__.__name__}: {exc})") from exc
    return manifest


def restore(archive: Path, target: Path) -> dict[str, Any]:
    """Restore into an empty data directory (refused otherwise: restoring never overwrites)."""
    manifest = verify(archive)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty; restore only into an empty data directory")
    staging = target.with_name(f".{target.name}.restoring")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for entry in manifest["files"]:
                destination = staging / entry["path"]
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(entry["path"]) as src, destination.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        retire_machine_bound_jobs(staging / DB_NAME)
        target.mkdir(parents=True, exist_ok=True)
        for child in staging.iterdir():
            os.replace(child, target / child.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    datadir.DataDir(target).prepare()  # folders and a fresh secret key (sessions start anew)
    datadir.tighten_permissions(target)  # the restored files are owner-only, as the app writes them
    return manifest


def retire_machine_bound_jobs(db: Path) -> int:
    """Cancel, in a restored database, the queued or running jobs of MACHINE_BOUND_JOBS."""
    if not db.is_file():
        return 0
    now = datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")  # how Django stores an aware UTC datetime in SQLite
    marks = ",".join("?" * len(MACHINE_BOUND_JOBS))
    try:
        with closing(sqlite3.connect(db)) as conn, conn:
            return conn.execute(
                f"UPDATE jobs_job SET state = 'cancelled', error = ?, finished_at = ?, worker_id = '' "  # noqa: S608 - placeholders only
                f"WHERE kind IN ({marks}) AND state IN ('queued', 'running')",
                (RETIRED_MESSAGE, now, *MACHINE_BOUND_JOBS),
            ).rowcount
    except sqlite3.OperationalError:
        return 0  # an archive from before the job table: nothing to retire


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.backups.archive", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create")
    c.add_argument("--data-dir")
    c.add_argument("--to", required=True, type=Path)
    c.add_argument("--keep", type=int, default=7)
    v = sub.add_parser("verify")
    v.add_argument("archive", type=Path)
    r = sub.add_parser("restore")
    r.add_argument("archive", type=Path)
    r.add_argument("--data-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            path = create(datadir.resolve(args.data_dir), args.to, args.keep)
            print(json.dumps({"archive": str(path), "counts": verify(path)["counts"]}))
        elif args.command == "verify":
            manifest = verify(args.archive)
            print(json.dumps({"ok": True, "files": len(manifest["files"]), "counts": manifest["counts"]}))
        else:
            manifest = restore(args.archive, args.data_dir)
            print(json.dumps({"restored": str(args.data_dir), "counts": manifest["counts"]}))
    except BackupError as exc:
        print(f"Refused: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
