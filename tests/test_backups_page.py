from __future__ import annotations

import tempfile
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from app.core.models import ClinicSettings
from app.jobs import queue
from app.jobs.models import Job, JobState
from app.jobs.worker import Worker
from app.backups.jobs import BACKUP, daily_backup_check
from tests.base import PASSWORD, BaseTestCase


class BackupsPageTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.login(username="alice", password=PASSWORD)

    def test_it_saves_settings_and_refuses_a_relative_folder(self) -> None:
        r = self.client.post(reverse("backups"), {"backup_folder": "usb", "backups_kept": 7})
        self.assertContains(r, "full path")
        r = self.client.post(reverse("backups"), {"backup_folder": "/media/no-such-usb/cxr", "backups_kept": 7})
        self.assertContains(r, "does not exist")
        folder = tempfile.mkdtemp(prefix="cxr-usb-")
        # The first folder turns the daily backup on; afterwards the box is the administrator's.
        r = self.client.post(reverse("backups"), {"backup_folder": folder, "backups_kept": 5})
        self.assertRedirects(r, reverse("backups"))
        clinic = ClinicSettings.current()
        self.assertEqual((clinic.backup_folder, clinic.daily_backup, clinic.backups_kept), (folder, True, 5))
        self.client.post(reverse("backups"), {"backup_folder": folder, "backups_kept": 5})
        self.assertFalse(ClinicSettings.current().daily_backup)

    def test_back_up_now_queues_one_job(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(backup_folder="/media/usb/cxr")
        self.client.post(reverse("backup_now"))
        self.client.post(reverse("backup_now"))
        self.assertEqual(Job.objects.filter(kind=BACKUP).count(), 1)

    def test_a_backup_job_without_a_database_file_fails_with_its_reason(self) -> None:
        # The test database lives in memory, so there is no database file to back up here; the
        # real archive is covered by tests/test_backup.py.
        import tempfile

        ClinicSettings.objects.filter(pk=1).update(backup_folder=tempfile.mkdtemp(prefix="cxr-usb-"))
        job = queue.enqueue(BACKUP)
        Worker(worker_id="w").execute(queue.claim_next("w"))
        job.refresh_from_db()
        self.assertEqual(job.state, JobState.FAILED)
        self.assertIn("The backup failed", job.error)
        self.assertTrue(ClinicSettings.current().last_backup_error)

    def test_the_daily_check_enqueues_only_when_due(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(backup_folder="/media/usb/cxr", daily_backup=True, last_backup_at=timezone.now() - timedelta(hours=2))
        daily_backup_check()
        self.assertFalse(Job.objects.filter(kind=BACKUP).exists())
        ClinicSettings.objects.filter(pk=1).update(last_backup_at=timezone.now() - timedelta(hours=25))
        daily_backup_check()
        daily_backup_check()
        self.assertEqual(Job.objects.filter(kind=BACKUP).count(), 1)

    def test_clinical_staff_cannot_open_it(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        self.assertEqual(self.client.get(reverse("backups")).status_code, 403)
