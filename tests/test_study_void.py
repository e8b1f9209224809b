"""Voiding a study (entered in error, wrong film, test): hidden from worklists and statistics,
kept, seen and restored by an administrator; each step audited and shown in its history."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from app.audit.models import AuditEvent
from app.clinical.dashboard import summary
from app.clinical.models import Study
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory


class StudyVoidTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.study = AnalysisFactory(finding="Abnormal", positive=True).study
        self.other = AnalysisFactory(finding="Abnormal", positive=True).study
        Study.objects.filter(pk__in=[self.study.pk, self.other.pk]).update(uploaded_at=timezone.now())

    def void(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.post(reverse("study_void", kwargs={"pk": self.study.pk}), {"reason": "test", "note": "practice film from training"})
        self.assertRedirects(r, reverse("patient_detail", kwargs={"pk": self.study.patient_id}))

    def test_it_leaves_the_worklist_and_the_statistics_but_is_kept(self) -> None:
        self.assertEqual(summary()["today"], 2)
        self.void()
        self.study.refresh_from_db()
        self.assertTrue(self.study.voided)
        self.assertEqual((self.study.void_reason, self.study.voided_by), ("test", self.radiographer))
        listing = self.client.get(reverse("worklist"))
        self.assertNotContains(listing, self.study.patient.patient_id)
        self.assertContains(listing, self.other.patient.patient_id)
        self.assertEqual(summary()["today"], 1)
        self.assertEqual(summary()["positives_today"], 1)
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.study.pk}))
        self.assertContains(page, "was voided", status_code=410)
        self.assertContains(page, "Test or practice image: practice film from training", status_code=410)
        self.assertTrue(self.study.path.name)  # the row and its file name are still there
        event = AuditEvent.objects.get(action="voided")
        self.assertIn("voided: Test or practice image (practice film from training)", event.summary)

    def test_it_needs_a_reason(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.post(reverse("study_void", kwargs={"pk": self.study.pk}), {"note": "oops"})
        self.assertEqual(r.status_code, 400)
        self.study.refresh_from_db()
        self.assertFalse(self.study.voided)

    def test_an_administrator_sees_it_and_restores_it(self) -> None:
        self.void()
        self.client.login(username="alice", password=PASSWORD)
        listing = self.client.get(reverse("voided_list"))
        self.assertContains(listing, f"Study {self.study.pk}")
        self.assertContains(listing, "practice film from training")
        r = self.client.post(reverse("study_restore", kwargs={"pk": self.study.pk}), {"note": "it was a real patient after all"})
        self.assertRedirects(r, reverse("voided_list"))
        self.study.refresh_from_db()
        self.assertFalse(self.study.voided)
        self.assertEqual(self.study.worklist_priority, 6)  # back in its place: unreviewed positive
        self.client.login(username="bob", password=PASSWORD)
        self.assertContains(self.client.get(reverse("worklist")), self.study.patient.patient_id)
        history = self.client.get(reverse("study_detail", kwargs={"pk": self.study.pk}))
        self.assertContains(history, "restored: it was a real patient after all")
        self.assertContains(history, "voided: Test or practice image")

    def test_only_an_administrator_restores(self) -> None:
        self.void()
        self.client.login(username="carol", password=PASSWORD)
        self.assertEqual(self.client.post(reverse("study_restore", kwargs={"pk": self.study.pk})).status_code, 403)
        self.study.refresh_from_db()
        self.assertTrue(self.study.voided)
