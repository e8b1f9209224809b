"""A data directory made by an older release (tests/fixtures/data-36ea3c0.zip, made by
tests/fixtures/make_old_data_dir.py with the code of commit 36ea3c0: three real films analysed
with heatmaps, a signed review, audit rows, a backup archive) opens in this release with nothing
lost, and that release's backup restores into another folder with its heatmaps showing."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.launched_app import REPO, LaunchedApp, WebClient

pytestmark = pytest.mark.slow

FIXTURE = REPO / "tests" / "fixtures" / "data-36ea3c0.zip"
PASSWORD = "an-old-release-password"  # set by make_old_data_dir.py


def unpack(target: Path) -> Path:
    with zipfile.ZipFile(FIXTURE) as archive:
        archive.extractall(target)
    return target


def assert_everything_is_there(app: LaunchedApp) -> None:
    studies = [row[0] for row in app.query("SELECT id FROM clinical_study ORDER BY id")]
    assert len(studies) == 3
    carol = WebClient(app)
    carol.login("carol", PASSWORD)  # the old accounts and passwords still work
    status, _, worklist = carol.request("worklist/")
    assert status == 200 and worklist.count("OLD-0001") == 3
    # The study reviewed in the old release sorts behind the two still waiting (the new priority
    # field was filled in from the old rows).
    ids = [int(part.split("/")[0]) for part in worklist.split('href="/studies/')[1:]]
    assert ids[-1] == studies[0], ids
    priority = dict(app.query("SELECT id, worklist_priority FROM clinical_study"))
    assert priority[studies[0]] < 4 <= min(priority[studies[1]], priority[studies[2]]), priority
    status, _, page = carol.request(f"studies/{studies[0]}/")
    assert status == 200 and "Reviewed in the old release." in page and "COVID-19" in page
    for study in studies:
        status, _, image = carol.request(f"studies/{study}/image/heatmap.png")
        assert status == 200 and image[1:4] == "PNG", f"study {study}: no heatmap ({status})"
    # The old results (schema 1) also make a PDF report with the overlay, and DICOM SC and SR.
    status, _, pdf = carol.request(f"studies/{studies[0]}/report.pdf")
    assert status == 200 and pdf.startswith("%PDF") and "/Image" in pdf, status
    for kind in ("sc", "sr"):
        status, _, dicom = carol.request(f"studies/{studies[0]}/ai-result-{kind}.dcm")
        assert status == 200 and dicom[128:132] == "DICM", (kind, status)
    alice = WebClient(app)
    alice.login("alice", PASSWORD)
    status, _, log = alice.request("admin/audit/")
    assert status == 200 and "the radiologist agreed with the AI" in log  # the old release's "reviewer confirmed ...", in words


def test_it_upgrades_a_data_directory_made_by_the_older_release(tmp_path: Path) -> None:
    data = unpack(tmp_path / "data")
    app = LaunchedApp(data).start()
    try:
        assert_everything_is_there(app)
        assert list((data / "backups").glob("pre-migration-*.sqlite3")), "the database was not copied before migrating"
        assert app.query("SELECT COUNT(*) FROM django_migrations WHERE app = 'clinical' AND name = '0007_study_worklist_priority'") == [(1,)]
    finally:
        assert app.terminate() == 0


def test_its_backup_restores_into_another_folder_with_the_heatmaps(tmp_path: Path) -> None:
    old = unpack(tmp_path / "old")
    (archive,) = (old / "backups-made").glob("cxr-backup-*.zip")
    restored = tmp_path / "somewhere" / "else"
    done = subprocess.run([sys.executable, "-m", "app.backups.archive", "restore", str(archive), "--data-dir", str(restored)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    app = LaunchedApp(restored).start()
    try:
        assert_everything_is_there(app)
    finally:
        assert app.terminate() == 0
