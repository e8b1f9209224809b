"""Start-up removes what a killed process left half-written, and nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from app.core.models import ClinicSettings
from app.jobs.models import WorkerHeartbeat
from app.platform.leftovers import clean_leftovers
from app.platform.startup import initialize
from tests.base import BaseTestCase
from tests.clinical_factories import AnalysisFactory


def touch(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


class LeftoversTestCase(BaseTestCase):
    def test_it_removes_what_a_crash_left_and_keeps_everything_in_use(self) -> None:
        data = settings.DATA_DIR
        analysis = AnalysisFactory()
        study = analysis.study
        kept = [
            touch(data.originals / study.stored_name),
            touch(data.derived / f"study-{study.pk}" / f"analysis-{analysis.pk}" / "analysis-heatmap.png"),
            touch(data.derived / "job-3" / "analysis-display.png"),
            touch(data.backups / "pre-migration-20261101-101010.sqlite3"),
        ]
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        ClinicSettings.objects.filter(pk=1).update(backup_folder=str(folder))
        kept.append(touch(folder / "cxr-backup-20261122-020000.zip"))
        garbage = [
            touch(data.originals / ".incoming-0123abcd"),
            touch(data.originals / ("f" * 64 + ".png")),
            touch(data.derived / "study-99999" / "original.png"),
            touch(data.derived / f"study-{study.pk}" / "analysis-99999" / "analysis-overlay.png"),
            touch(data.derived / f"study-{study.pk}" / "original.tmp"),
            touch(data.backups / "cxr-backup-k3j4h5" / "db.sqlite3"),
            touch(folder / "cxr-backup-20261123-020000.zip.partial"),
            touch(data.root / ".secret_key.4242.abcd"),
            touch(data.model_packs / ".staging-5f2e9c" / "member.pt"),  # a pack import killed half-way
        ]
        WorkerHeartbeat.objects.create(worker_id="dead:1:x", hostname="here", pid=1, last_seen=timezone.now())

        removed = clean_leftovers()

        for path in kept:
            self.assertTrue(path.exists(), path)
        for path in garbage:
            self.assertFalse(path.exists(), path)
        self.assertFalse((data.derived / "study-99999").exists())
        self.assertFalse((data.backups / "cxr-backup-k3j4h5").exists())
        self.assertEqual(WorkerHeartbeat.objects.count(), 0)
        self.assertEqual(removed["unfinished uploads"], 1)
        self.assertEqual(removed["partial backup archives"], 1)
        self.assertFalse((data.model_packs / ".staging-5f2e9c").exists())
        self.assertEqual(removed["staging folders of interrupted pack imports"], 1)

    def test_start_up_tightens_files_left_open(self) -> None:
        data = settings.DATA_DIR
        (data.cache / "thumbnails").mkdir(mode=0o755, exist_ok=True)
        (data.cache / "thumbnails" / "overlay.png").write_bytes(b"x")
        (data.cache / "thumbnails" / "overlay.png").chmod(0o644)
        (data.root / "restored-by-hand.sqlite3").write_bytes(b"")
        (data.root / "restored-by-hand.sqlite3").chmod(0o644)
        report = initialize(single_workstation=True)  # what every start of the app runs
        self.assertEqual((data.cache / "thumbnails").stat().st_mode & 0o777, 0o700)
        self.assertEqual((data.cache / "thumbnails" / "overlay.png").stat().st_mode & 0o777, 0o600)
        self.assertEqual((data.root / "restored-by-hand.sqlite3").stat().st_mode & 0o777, 0o600)
        self.assertGreaterEqual(report["modes_tightened"], 3)

    def test_initialize_cleans_on_a_single_workstation_only(self) -> None:
        leftover = touch(settings.DATA_DIR.originals / ".incoming-feed")
        initialize(single_workstation=False)  # other processes may be uploading right now
        self.assertTrue(leftover.exists())
        report = initialize(single_workstation=True)
        self.assertFalse(leftover.exists())
        self.assertEqual(report["leftovers_removed"]["unfinished uploads"], 1)
