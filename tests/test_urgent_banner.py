"""Urgent findings: unreviewed AI positives announced on every radiologist's page, as the
administrator configured them."""

from __future__ import annotations

from django.urls import reverse

from app.core.models import ClinicSettings
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory


class UrgentBannerTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.covid = AnalysisFactory(finding="COVID-19", positive=True, confidence=0.9).study
        self.opacity = AnalysisFactory(finding="Lung Opacity", positive=True, confidence=0.6).study
        AnalysisFactory(finding="Normal", positive=False, confidence=0.99)

    def banner(self, username: str) -> str:
        self.client.login(username=username, password=PASSWORD)
        return self.client.get(reverse("patient_list")).content.decode()

    def test_every_radiologist_page_counts_unreviewed_positives(self) -> None:
        page = self.banner("carol")
        self.assertIn("2 urgent findings wait for a radiologist", page)
        self.assertIn(f'{reverse("worklist")}?urgent=1&amp;reviewed=no', page)
        self.assertNotIn("urgent finding", self.banner("bob"))  # radiographers are not paged

    def test_the_administrator_chooses_the_findings_and_the_confidence(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(urgent_findings="COVID-19\n", urgent_min_confidence=0.5)
        self.assertIn("1 urgent finding waits for a radiologist", self.banner("carol"))
        ClinicSettings.objects.filter(pk=1).update(urgent_findings="", urgent_min_confidence=0.95)
        self.assertNotIn("urgent finding", self.banner("carol"))

    def test_the_urgent_filter_lists_them_and_signing_clears_them(self) -> None:
        self.client.login(username="carol", password=PASSWORD)
        listing = self.client.get(reverse("worklist") + "?urgent=1").content.decode()
        self.assertIn(self.covid.patient.patient_id, listing)
        self.assertIn(self.opacity.patient.patient_id, listing)
        self.assertEqual(listing.count("row-link"), 2)
        self.client.post(reverse("study_review", kwargs={"pk": self.covid.pk}), {"action": "agree_next"})
        fragment = self.client.get(reverse("urgent_banner"), headers={"X-CXR-Poll": "1"}).content.decode()
        self.assertIn("1 urgent finding waits", fragment)
        self.assertIn('hx-trigger="every 30s"', fragment)

    def test_the_administrator_sets_it_in_clinic_settings(self) -> None:
        self.client.login(username="alice", password=PASSWORD)
        r = self.client.post(reverse("clinic_settings"), {"clinic_name": "Riverside", "language": "en", "dicom_ae_title": "CXRWS", "session_idle_minutes": 30,
                                                          "urgent_findings": "COVID-19\nLung Opacity", "urgent_min_confidence": "0.7"})
        self.assertEqual(r.status_code, 302)
        clinic = ClinicSettings.current()
        self.assertEqual((clinic.urgent_findings, clinic.urgent_min_confidence), ("COVID-19\nLung Opacity", 0.7))
        self.assertIn("1 urgent finding waits", self.banner("carol"))
