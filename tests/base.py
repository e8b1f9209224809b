"""Personas shared by the view tests (healthchecks style)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import TestCase

from app.core.models import ClinicSettings

PASSWORD = "correct-horse-battery"


class BaseTestCase(TestCase):
    def setUp(self) -> None:
        super().setUp()
        ClinicSettings.objects.create(pk=1, clinic_name="Riverside Field Clinic")
        self.admin = User.objects.create_user("alice", password=PASSWORD, is_staff=True, is_superuser=True)
        self.radiographer = User.objects.create_user("bob", password=PASSWORD, first_name="Bob")
