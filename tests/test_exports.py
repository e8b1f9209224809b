"""PDF report, CSV of the worklist and JSON of a study: content checked, exports audited."""

from __future__ import annotations

import csv
import io
import json

from django.urls import reverse
from pypdf import PdfReader

from app.clinical.models import AuditEvent, Review, Study
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory
from tests.shared_data import REPO

ARTIFACTS = REPO / "test-artifacts" / "reports"


def pdf_text(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


class ExportsTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.analysis = AnalysisFactory(finding="Abnormal", positive=True, demonstration=True)
        self.study = self.analysis.study
        self.client.login(username="bob", password=PASSWORD)

    def test_an_unreviewed_report_is_preliminary_and_demonstration_on_every_page(self) -> None:
        r = self.client.get(reverse("study_report", kwargs={"pk": self.study.pk}))
        self.assertEqual(r["Content-Type"], "application/pdf")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "report-unreviewed.pdf").write_bytes(r.content)  # for a person to look at
        pages = pdf_text(r.content)
        for text in pages:
            self.assertIn("PRELIMINARY", text)
            self.assertIn("DEMONSTRATION MODEL, NOT FOR DIAGNOSIS", text)
            self.assertIn("Riverside Field Clinic", text)
        body = "\n".join(pages)
        self.assertIn(self.study.patient.patient_id, body)
        self.assertIn("Abnormal", body)
        self.assertIn("5 of 6 models agree", body)
        self.assertIn("Not yet reviewed", body)
        self.assertTrue(AuditEvent.objects.filter(action="exported", object_type="study").exists())

    def test_a_signed_report_names_the_radiologist(self) -> None:
        Review.objects.create(study=self.study, analysis=self.analysis, reviewer=self.radiologist, ai_finding="Abnormal", finding="Normal", agrees_with_ai=False, note="Old scarring only.")
        Study.objects.filter(pk=self.study.pk).update(reviewed=True)
        body = "\n".join(pdf_text(self.client.get(reverse("study_report", kwargs={"pk": self.study.pk})).content))
        self.assertNotIn("PRELIMINARY", body)
        self.assertIn("Old scarring only.", body)
        self.assertIn("Carol", body)
        self.assertIn("AI said Abnormal", body)

    def test_the_worklist_csv_follows_the_filters_and_opens_in_spreadsheets(self) -> None:
        AnalysisFactory(finding="Normal", positive=False)
        r = self.client.get(reverse("worklist_csv"), {"finding": "Abnormal"})
        self.assertEqual(r.content[:3], b"\xef\xbb\xbf")  # UTF-8 BOM
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["patient_id"], self.study.patient.patient_id)
        self.assertEqual(rows[0]["ai_finding"], "Abnormal")
        self.assertEqual(rows[0]["reviewer_finding"], "")
        self.assertTrue(AuditEvent.objects.filter(action="exported", summary__contains="CSV (1 studies)").exists())

    def test_the_study_json_carries_ai_and_reviews(self) -> None:
        r = self.client.get(reverse("study_json", kwargs={"pk": self.study.pk}))
        body = json.loads(r.content)
        self.assertEqual(body["format"], "cxr-workstation-study/1")
        self.assertEqual(body["patient"]["patient_id"], self.study.patient.patient_id)
        self.assertEqual(body["ai"]["result"]["consensus"]["finding"], "Abnormal")
        self.assertEqual(body["reviews"], [])
