"""Backup, wipe, restore, compare: the same records and files come back; damage is detected."""

from __future__ import annotations

import hashlib
import sqlite3
import zipfile
from pathlib import Path

import pytest

from app.backups import archive as backup
from app.platform.datadir import DataDir
from tests.launched_app import REPO, LaunchedApp


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in backup.FOLDERS
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def db_rows(db: Path) -> dict[str, list[tuple]]:
    connection = sqlite3.connect(db)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: connection.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
    finally:
        connection.close()


@pytest.fixture
def live_data(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "live")
    data.prepare()
    connection = sqlite3.connect(data.db_path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE clinical_patient (id INTEGER PRIMARY KEY, patient_id TEXT)")
    connection.executemany("INSERT INTO clinical_patient (patient_id) VALUES (?)", [(f"P{i}",) for i in range(50)])
    connection.commit()  # left open: the database is live, with a WAL file, during the backup
    (data.originals / "abc.dcm").write_bytes(b"DICM" * 1000)
    (data.derived / "study-1").mkdir()
    (data.derived / "study-1" / "overlay.png").write_bytes(b"\x89PNG" + bytes(range(256)))
    yield data
    connection.close()


def test_backup_wipe_restore_gives_back_the_same_records_and_files(live_data: DataDir, tmp_path: Path) -> None:
    archive = backup.create(live_data, tmp_path / "usb")
    assert archive.name.startswith(backup.PREFIX) and archive.suffix == ".zip"
    assert not list((tmp_path / "usb").glob("*.partial"))
    before_rows, before_files = db_rows(live_data.db_path), tree_digest(live_data.root)

    restored = tmp_path / "new-laptop"
    manifest = backup.restore(archive, restored)
    assert manifest["counts"]["clinical_patient"] == 50
    assert db_rows(restored / "db.sqlite3") == before_rows
    assert tree_digest(restored) == before_files
    assert (restored / "secret_key").is_file()


def test_a_restore_runs_no_job_of_the_old_computer_and_keeps_every_file_private(live_data: DataDir, tmp_path: Path) -> None:
    connection = sqlite3.connect(live_data.db_path)
    connection.execute("CREATE TABLE jobs_job (id INTEGER PRIMARY KEY, kind TEXT, state TEXT, error TEXT, finished_at TEXT, worker_id TEXT)")
    connection.executemany(
        "INSERT INTO jobs_job (kind, state, error, worker_id) VALUES (?, ?, '', 'w')",
        [("maintenance.backup", "running"), ("clinical.send_result", "queued"), ("clinical.analyse_study", "queued"), ("maintenance.backup", "succeeded")],
    )
    connection.commit()
    connection.close()
    archive = backup.create(live_data, tmp_path / "usb")

    restored = tmp_path / "new-laptop"
    backup.restore(archive, restored)
    rows = sqlite3.connect(restored / "db.sqlite3").execute("SELECT kind, state, error FROM jobs_job ORDER BY id").fetchall()
    assert [(kind, state) for kind, state, _ in rows] == [
        ("maintenance.backup", "cancelled"), ("clinical.send_result", "cancelled"), ("clinical.analyse_study", "queued"), ("maintenance.backup", "succeeded"),
    ]
    assert "belongs to the computer it was made on" in rows[0][2]
    modes = {p.relative_to(restored).as_posix(): p.stat().st_mode & 0o777 for p in [restored, *restored.rglob("*")]}
    assert {mode for name, mode in modes.items() if (restored / name).is_file()} == {0o600}, modes
    assert {mode for name, mode in modes.items() if (restored / name).is_dir()} == {0o700}, modes


def test_a_damaged_archive_is_detected(live_data: DataDir, tmp_path: Path) -> None:
    archive = backup.create(live_data, tmp_path / "usb")
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:-1] + b"X" if item.filename.endswith("abc.dcm") else data)
    with pytest.raises(backup.BackupError, match="abc.dcm is damaged"):
        backup.verify(damaged)
    with pytest.raises(backup.BackupError, match="is damaged"):
        backup.restore(damaged, tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_restore_never_overwrites(live_data: DataDir, tmp_path: Path) -> None:
    archive = backup.create(live_data, tmp_path / "usb")
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(archive, live_data.root)


def test_old_archives_are_rotated(live_data: DataDir, tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    for day in range(1, 6):
        (folder / f"{backup.PREFIX}2026010{day}-000000.zip").write_bytes(b"old")
    new = backup.create(live_data, folder, keep=3)
    remaining = sorted(p.name for p in folder.glob("*.zip"))
    # The two newest old archives and the new one (named by today's date, whatever the year).
    assert remaining == [f"{backup.PREFIX}20260104-000000.zip", f"{backup.PREFIX}20260105-000000.zip", new.name]


@pytest.mark.slow
def test_a_running_app_is_backed_up_and_the_restored_copy_starts(tmp_path: Path) -> None:
    import subprocess
    import sys

    app = LaunchedApp(tmp_path / "live").start()
    try:
        app.manage("from app.clinical.models import Patient; [Patient.objects.create(patient_id=f'RFC-{i}') for i in range(7)]")
        done = subprocess.run(
            [sys.executable, "-m", "app.backups.archive", "create", "--data-dir", str(app.data_dir), "--to", str(tmp_path / "usb")],
            cwd=REPO, env=app.env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
    finally:
        assert app.terminate() == 0
    archive = next((tmp_path / "usb").glob("*.zip"))
    backup.restore(archive, tmp_path / "restored")
    restored = LaunchedApp(tmp_path / "restored").start()
    try:
        assert restored.manage("from app.clinical.models import Patient; print(Patient.objects.count())").strip().endswith("7")
    finally:
        assert restored.terminate() == 0
