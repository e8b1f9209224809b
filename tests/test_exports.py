"""PDF report, CSV of the worklist and JSON of a study: content checked, exports audited."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from django.urls import reverse
from pypdf import PdfReader

from app.audit.models import AuditEvent
from app.clinical.models import Review, Study
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

    @pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm (apt-get install poppler-utils); .ci/run installs it")
    def test_the_report_renders_with_the_radiograph_and_heatmap(self) -> None:
        folder = settings.DATA_DIR.derived / f"study-{self.study.pk}" / "analysis-test"
        folder.mkdir(parents=True, exist_ok=True)
        yy, xx = np.mgrid[0:300, 0:240]
        dark = np.full((300, 240), 30, np.uint8)
        Image.fromarray(dark).save(folder / "display.png")
        Image.fromarray(np.dstack([dark, (xx % 255).astype(np.uint8), (yy % 255).astype(np.uint8)])).save(folder / "overlay.png")
        result = {**self.analysis.result, "images": {"display": str(folder / "display.png"), "overlay": str(folder / "overlay.png")}}
        type(self.analysis).objects.filter(pk=self.analysis.pk).update(result=result)
        pdf = self.client.get(reverse("study_report", kwargs={"pk": self.study.pk})).content
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "report-with-images.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", "50", "-png", str(ARTIFACTS / "report-with-images.pdf"), str(ARTIFACTS / "report-with-images")], check=True, timeout=60)
        page = np.asarray(Image.open(sorted(ARTIFACTS.glob("report-with-images*.png"))[0]).convert("L"))
        dark_share = float((page < 60).mean())
        self.assertGreater(dark_share, 0.05, "the radiograph is not on the page")  # a text-only page is ~1% dark
        self.assertLess(dark_share, 0.6)

    def test_a_signed_report_names_the_radiologist(self) -> None:
        Review.objects.create(study=self.study, analysis=self.analysis, reviewer=self.radiologist, ai_finding="Abnormal", finding="Normal", agrees_with_ai=False, note="Old scarring only.")
        Study.objects.filter(pk=self.study.pk).update(reviewed=True)
        body = "\n".join(pdf_text(self.client.get(reverse("study_report", kwargs={"pk": self.study.pk})).content))
        self.assertNotIn("PRELIMINARY", body)
        self.assertIn("Old scarring only.", body)
        self.assertIn("Carol", body)
        self.assertIn("AI said Abnormal", body)

    def test_an_amended_report_shows_the_addendum_above_the_original(self) -> None:
        from app.clinical.reading import current_read, sign

        sign(self.study, self.analysis, self.radiologist, finding="Abnormal", note="")
        sign(self.study, self.analysis, self.radiologist, finding="Other abnormality", detail="Right pleural effusion",
             note="On the lateral: fluid, not consolidation.", amends=current_read(self.study))
        content = self.client.get(reverse("study_report", kwargs={"pk": self.study.pk})).content
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "report-amended.pdf").write_bytes(content)
        body = " ".join("\n".join(pdf_text(content)).split())
        self.assertIn("Addendum · the read that stands", body)
        self.assertIn("Original read", body)
        self.assertLess(body.index("Right pleural effusion"), body.index("Original read"))
        self.assertIn("On the lateral: fluid, not consolidation.", body)
        rows = list(csv.DictReader(io.StringIO(self.client.get(reverse("worklist_csv")).content.decode("utf-8-sig"))))
        self.assertEqual((rows[0]["final_finding"], rows[0]["final_finding_from"], rows[0]["read_is_addendum"]), ("Other abnormality", "radiologist", "yes"))
        self.assertEqual(rows[0]["reviewer_detail"], "Right pleural effusion")

    def test_the_worklist_csv_follows_the_filters_and_opens_in_spreadsheets(self) -> None:
        AnalysisFactory(finding="Normal", positive=False)
        r = self.client.get(reverse("worklist_csv"), {"finding": "Abnormal"})
        self.assertEqual(r.content[:3], b"\xef\xbb\xbf")  # UTF-8 BOM
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["patient_id"], self.study.patient.patient_id)
        self.assertEqual(rows[0]["ai_finding"], "Abnormal")
        self.assertEqual(rows[0]["reviewer_finding"], "")
        self.assertEqual((rows[0]["final_finding"], rows[0]["final_finding_from"]), ("Abnormal", "AI, not reviewed"))
        self.assertTrue(AuditEvent.objects.filter(action="exported", summary__contains="CSV (1 studies)").exists())

    def test_the_study_json_carries_ai_and_reviews(self) -> None:
        r = self.client.get(reverse("study_json", kwargs={"pk": self.study.pk}))
        body = json.loads(r.content)
        self.assertEqual(body["format"], "cxr-workstation-study/1")
        self.assertEqual(body["patient"]["patient_id"], self.study.patient.patient_id)
        self.assertEqual(body["ai"]["result"]["consensus"]["finding"], "Abnormal")
        self.assertEqual(body["reviews"], [])
