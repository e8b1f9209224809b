"""Personas shared by the view tests (healthchecks style)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import TestCase

from app.core.models import ClinicSettings
from app.core.roles import ADMINISTRATOR, RADIOGRAPHER, RADIOLOGIST, grant

PASSWORD = "correct-horse-battery"


class BaseTestCase(TestCase):
    def setUp(self) -> None:
        super().setUp()
        ClinicSettings.objects.create(pk=1, clinic_name="Riverside Field Clinic")
        self.admin = User.objects.create_user("alice", password=PASSWORD, first_name="Alice")
        grant(self.admin, ADMINISTRATOR)
        self.radiographer = User.objects.create_user("bob", password=PASSWORD, first_name="Bob")
        grant(self.radiographer, RADIOGRAPHER)
        self.radiologist = User.objects.create_user("carol", password=PASSWORD, first_name="Carol")
        grant(self.radiologist, RADIOLOGIST)
        self.personas = {"admin": self.admin, "radiographer": self.radiographer, "radiologist": self.radiologist}

    def run_jobs(self) -> None:
        """Run every queued job in this thread, as the worker would, until the queue is empty."""
        from app.jobs import queue
        from app.jobs.worker import Worker

        while (job := queue.claim_next("w")) is not None:
            Worker(worker_id="w").execute(job)
