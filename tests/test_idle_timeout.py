"""Idle log-out counts what a person does; background polls never keep a session alive."""

from __future__ import annotations

from unittest import mock

from django.test import override_settings
from django.urls import reverse

from app.core import idle
from app.core.models import ClinicSettings
from app.audit.models import AuditEvent
from tests.base import PASSWORD, BaseTestCase

POLL = {"HTTP_HX_REQUEST": "true", "HTTP_X_CXR_POLL": "1", "HTTP_HX_CURRENT_URL": "http://127.0.0.1/worklist/"}


@override_settings(SESSION_IDLE_SECONDS=60)
class IdleTimeoutTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.now = 1_000_000.0
        patcher = mock.patch.object(idle.time, "time", lambda: self.now)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.client.login(username="bob", password=PASSWORD)
        self.assertEqual(self.client.get(reverse("worklist")).status_code, 200)  # activity at t=0

    def test_it_polls_freely_within_the_idle_time_without_extending_it(self) -> None:
        for seconds in (10, 30, 55):
            self.now = 1_000_000.0 + seconds
            self.assertEqual(self.client.get(reverse("worklist"), **POLL).status_code, 200)
        self.now = 1_000_000.0 + 61  # 61 s after the last click, polls in between
        r = self.client.get(reverse("worklist"), **POLL)
        self.assertEqual(r.status_code, 204)
        self.assertEqual(r["HX-Redirect"], "/login/?expired=60&next=http%3A%2F%2F127.0.0.1%2Fworklist%2F")
        self.assertRedirects(self.client.get(reverse("worklist")), "/login/?next=/worklist/")  # logged out for good

    def test_a_click_after_the_idle_time_lands_on_the_login_page_with_the_reason(self) -> None:
        self.now += 61
        r = self.client.get(reverse("patient_list"))
        self.assertRedirects(r, "/login/?expired=60&next=%2Fpatients%2F", fetch_redirect_response=False)
        page = self.client.get(r["Location"])
        self.assertContains(page, "You were logged out after 1 minute without activity.")
        self.assertNotContains(page, "Riverside Field Clinic · Worklist")

    def test_a_click_counts_as_activity(self) -> None:
        self.now += 50
        self.client.get(reverse("patient_list"))
        self.now += 50  # 100 s after log-in, 50 s after the click
        self.assertEqual(self.client.get(reverse("worklist")).status_code, 200)

    @override_settings(SESSION_IDLE_SECONDS=0)
    def test_the_administrators_setting_applies_when_no_override_is_set(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(session_idle_minutes=5)
        self.assertEqual(idle.idle_seconds(), 300)
        self.now += 299
        self.assertEqual(self.client.get(reverse("worklist")).status_code, 200)
        self.now += 301
        self.assertEqual(self.client.get(reverse("worklist")).status_code, 302)


class ClinicSettingsTestCase(BaseTestCase):
    def test_it_lets_an_administrator_change_the_idle_time(self) -> None:
        self.client.login(username="alice", password=PASSWORD)
        r = self.client.post(reverse("clinic_settings"), {"clinic_name": "Riverside Field Clinic", "language": "en", "dicom_ae_title": "CXRWS", "session_idle_minutes": 15})
        self.assertRedirects(r, reverse("clinic_settings"))
        self.assertEqual(ClinicSettings.current().session_idle_minutes, 15)
        event = AuditEvent.objects.get(summary="Clinic settings changed")
        self.assertEqual(event.detail, {"session_idle_minutes": "15"})

    def test_it_refuses_an_idle_time_of_zero(self) -> None:
        self.client.login(username="alice", password=PASSWORD)
        r = self.client.post(reverse("clinic_settings"), {"clinic_name": "Riverside Field Clinic", "language": "en", "dicom_ae_title": "CXRWS", "session_idle_minutes": 0})
        self.assertEqual(r.status_code, 200)
        self.assertEqual(ClinicSettings.current().session_idle_minutes, 30)
