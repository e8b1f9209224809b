"""The administrator's home page lists what needs doing, each with where to do it."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from app.core.models import ClinicSettings
from app.jobs.models import Job, JobState
from tests.base import PASSWORD, BaseTestCase


class AdminTodoTestCase(BaseTestCase):
    def home(self) -> str:
        self.client.login(username="alice", password=PASSWORD)
        return self.client.get(reverse("home")).content.decode()

    def test_no_backup_folder_is_the_first_thing_to_do(self) -> None:
        page = self.home()
        self.assertIn("No backup folder", page)
        self.assertIn(f'href="{reverse("backups")}"', page)

    def test_an_old_or_failed_backup_and_failed_jobs_are_listed(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(backup_folder="/media/usb", last_backup_at=timezone.now() - timedelta(days=3))
        self.assertIn("Backup too old", self.home())
        ClinicSettings.objects.filter(pk=1).update(last_backup_error="The USB drive is full.")
        Job.objects.create(kind="maintenance.backup", state=JobState.FAILED, finished_at=timezone.now())
        page = self.home()
        self.assertIn("The last backup failed", page)
        self.assertIn("The USB drive is full.", page)
        self.assertIn("Failed jobs this week: 1", page)

    def test_a_recent_backup_is_fine_and_radiographers_see_no_list(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(backup_folder="/media/usb", last_backup_at=timezone.now())
        page = self.home()
        self.assertIn('class="todo-ok"><strong>Backups</strong>', page)
        self.client.login(username="bob", password=PASSWORD)
        self.assertNotIn('id="todo"', self.client.get(reverse("home")).content.decode())
