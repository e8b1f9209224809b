"""Restore from a backup chosen in the app: checked first, carried out at the next start with the
data from before kept in a safety copy, and audited."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from app.backups import archive
from app.backups.restore_at_start import pending
from app.core.models import ClinicSettings
from tests.base import PASSWORD, BaseTestCase
from tests.launched_app import LaunchedApp
from tests.shared_data import REPO


class RestorePageTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.folder = Path(tempfile.mkdtemp(prefix="cxr-backups-"))
        ClinicSettings.objects.filter(pk=1).update(backup_folder=str(self.folder))
        self.client.login(username="alice", password=PASSWORD)

    def make_archive(self) -> Path:
        import sqlite3

        from app.platform.datadir import DataDir

        data = DataDir(Path(tempfile.mkdtemp(prefix="cxr-data-")))
        data.prepare()
        sqlite3.connect(data.db_path).close()
        return archive.create(data, self.folder)

    def test_a_backup_is_checked_then_restored_at_the_next_start_or_cancelled(self) -> None:
        made = self.make_archive()
        page = self.client.get(reverse("backups"))
        self.assertContains(page, made.name)
        r = self.client.post(reverse("restore_check"), {"archive": str(made)})
        self.assertContains(r, "was read back whole and matches its checksums")
        r = self.client.post(reverse("restore_request"), {"archive": str(made), "confirm": "yes"}, follow=True)
        self.assertContains(r, "The restore happens when the app next starts")
        self.assertEqual(pending(settings.DATA_DIR)["archive"], str(made.resolve()))
        self.client.post(reverse("restore_cancel"))
        self.assertIsNone(pending(settings.DATA_DIR))

    def test_only_an_offered_intact_archive_is_accepted(self) -> None:
        r = self.client.post(reverse("restore_check"), {"archive": "/etc/passwd"}, follow=True)
        self.assertContains(r, "Choose one of the backups listed")
        damaged = self.folder / f"{archive.PREFIX}20260101-000000.zip"
        damaged.write_bytes(b"PK\x03\x04 not really a zip")
        r = self.client.post(reverse("restore_check"), {"archive": str(damaged)}, follow=True)
        self.assertContains(r, "This backup cannot be restored")
        self.assertIsNone(pending(settings.DATA_DIR))


@pytest.mark.slow
def test_the_launcher_restores_at_start_and_keeps_the_data_from_before(tmp_path: Path) -> None:
    data = tmp_path / "data"
    backups = tmp_path / "usb"
    backups.mkdir()
    app = LaunchedApp(data).start()
    assert app.terminate() == 0
    app.manage("from app.clinical.models import Patient; Patient.objects.create(patient_id='BEFORE-1')")
    subprocess.run([sys.executable, "-m", "app.backups.archive", "create", "--data-dir", str(data), "--to", str(backups)], cwd=REPO, env=app.env, check=True, timeout=120)
    made = next(backups.glob("cxr-backup-*.zip"))
    app.manage(
        "from pathlib import Path; from django.conf import settings; from app.clinical.models import Patient; "
        "from app.backups.restore_at_start import request; Patient.objects.create(patient_id='AFTER-1'); "
        f"request(settings.DATA_DIR, Path({str(made)!r}), 'alice')"
    )
    app.start()
    assert app.terminate() == 0
    ids = {row[0] for row in app.query("SELECT patient_id FROM clinical_patient")}
    assert ids == {"BEFORE-1"}
    safety = [p for p in tmp_path.iterdir() if p.name.startswith("data.before-restore-")]
    assert len(safety) == 1 and (safety[0] / "db.sqlite3").is_file()
    import sqlite3

    with sqlite3.connect(safety[0] / "db.sqlite3") as db:
        assert {row[0] for row in db.execute("SELECT patient_id FROM clinical_patient")} == {"BEFORE-1", "AFTER-1"}
    summary = app.query("SELECT summary FROM clinical_auditevent WHERE action = 'restored'")
    assert summary and summary[0][0].startswith(f"Data restored from {made.name} at the start of the app (asked by alice)")
    assert not (data / "restore-pending.json").exists()
