"""Analyse anyway: a person overrules the quality gate's refusal, saying why; the result says so everywhere."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from app.audit.models import AuditEvent
from app.clinical.models import AnalysisStatus, Study
from app.jobs import queue
from app.jobs.worker import Worker
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import PatientFactory

REASON = "Portable AP film, ICU, lines and ECG leads"


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def a_grayscale_photograph() -> bytes:
    """A real photograph (scikit-image's camera man), grayscale: the gate refuses it as not a
    chest radiograph, an overridable refusal, exactly like a real film it gets wrong."""
    from skimage import data

    return png_bytes(data.camera())


def a_colour_picture() -> bytes:
    yy, xx = np.mgrid[0:256, 0:256]
    return png_bytes(np.dstack([xx, yy, 255 - xx]).astype(np.uint8))


@pytest.mark.usefixtures("tiny_pack_active")
class GateOverrideTestCase(BaseTestCase):
    def run_worker_once(self) -> None:
        job = queue.claim_next("test")
        self.assertIsNotNone(job)
        Worker(worker_id="test").execute(job)

    def refused_study(self, content: bytes) -> Study:
        self.client.login(username="bob", password=PASSWORD)
        patient = PatientFactory()
        self.client.post(reverse("upload"), {"patient": patient.pk, "files": [SimpleUploadedFile("film.png", content)]})
        study = Study.objects.get(patient=patient)
        self.run_worker_once()
        study.refresh_from_db()
        self.assertEqual(study.latest_analysis.status, AnalysisStatus.REFUSED)
        return study

    def test_it_offers_analyse_anyway_with_advice_for_a_refused_film(self) -> None:
        study = self.refused_study(a_grayscale_photograph())
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertContains(page, "No finding was made.")
        self.assertContains(page, "What to do:")
        self.assertContains(page, "choose Analyse anyway and say why")
        self.assertContains(page, "Analyse anyway</button>")

    def test_it_analyses_anyway_and_marks_the_result_everywhere(self) -> None:
        study = self.refused_study(a_grayscale_photograph())
        refused = study.latest_analysis
        r = self.client.post(reverse("study_analyse_anyway", kwargs={"pk": study.pk}), {"reason": REASON})
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": study.pk}))
        event = AuditEvent.objects.get(action="gate_overridden")
        self.assertEqual(event.username, "bob")
        self.assertEqual(event.detail["reason"], REASON)
        self.assertEqual(event.detail["refused_analysis_id"], refused.id)

        self.run_worker_once()
        study.refresh_from_db()
        analysis = study.latest_analysis
        self.assertNotEqual(analysis.id, refused.id)  # the refusal stays on record
        self.assertEqual(analysis.status, AnalysisStatus.ANALYSED, analysis.message)
        self.assertTrue(analysis.needs_review)
        self.assertEqual(analysis.gate_override_by, self.radiographer)
        result = analysis.result
        self.assertFalse(result["quality_gate"]["passed"])
        self.assertEqual(result["quality_gate"]["overridden"]["code"], "not_chest_radiograph")
        self.assertEqual(result["gate_override"]["reason"], REASON)
        self.assertEqual(result["gate_override"]["by"], "bob")
        self.assertIn("analysed despite the quality gate (not chest radiograph)", result["consensus"]["review_reasons"])

        marker = f"Analysed despite the quality gate: {REASON} (by Bob, "
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertContains(page, marker)
        body = self.client.get(reverse("study_json", kwargs={"pk": study.pk})).json()
        self.assertEqual(body["ai"]["result"]["gate_override"]["reason"], REASON)
        rows = list(csv.DictReader(io.StringIO(self.client.get(reverse("worklist_csv")).content.decode("utf-8-sig"))))
        row = next(r for r in rows if r["study"] == str(study.pk))
        self.assertTrue(row["quality_gate_override"].startswith(marker), row["quality_gate_override"])
        self.assertEqual(row["ai_needs_review"], "yes")
        from pypdf import PdfReader

        pdf = self.client.get(reverse("study_report", kwargs={"pk": study.pk}))
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        self.assertIn("Analysed despite the quality gate", text)
        self.assertIn(REASON, " ".join(text.split()))

    def test_a_radiologist_may_override_too(self) -> None:
        study = self.refused_study(a_grayscale_photograph())
        self.client.login(username="carol", password=PASSWORD)
        self.client.post(reverse("study_analyse_anyway", kwargs={"pk": study.pk}), {"reason": REASON})
        self.assertEqual(AuditEvent.objects.get(action="gate_overridden").username, "carol")

    def test_it_requires_a_reason(self) -> None:
        study = self.refused_study(a_grayscale_photograph())
        r = self.client.post(reverse("study_analyse_anyway", kwargs={"pk": study.pk}), {"reason": "  "})
        self.assertEqual(r.status_code, 400)
        self.assertContains(r, "Give the reason", status_code=400)
        study.refresh_from_db()
        self.assertEqual(study.latest_analysis.status, AnalysisStatus.REFUSED)
        self.assertFalse(AuditEvent.objects.filter(action="gate_overridden").exists())
        self.assertIsNone(queue.claim_next("test"))

    def test_a_colour_picture_cannot_be_analysed_anyway(self) -> None:
        study = self.refused_study(a_colour_picture())
        self.assertEqual(study.latest_analysis.result["code"], "colour")
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertNotContains(page, "Analyse anyway</button>")
        r = self.client.post(reverse("study_analyse_anyway", kwargs={"pk": study.pk}), {"reason": REASON}, follow=True)
        self.assertContains(r, "Only a film the quality gate refused")
        study.refresh_from_db()
        self.assertEqual(study.latest_analysis.status, AnalysisStatus.REFUSED)
        self.assertIsNone(queue.claim_next("test"))

    def test_an_analysed_study_cannot_be_overridden(self) -> None:
        from tests.clinical_factories import AnalysisFactory

        study = AnalysisFactory().study
        Study.objects.filter(pk=study.pk).update(latest_analysis=study.analyses.get())
        self.client.login(username="carol", password=PASSWORD)
        self.client.post(reverse("study_analyse_anyway", kwargs={"pk": study.pk}), {"reason": REASON})
        self.assertFalse(AuditEvent.objects.filter(action="gate_overridden").exists())

    def test_an_administrator_may_not_override(self) -> None:
        study = self.refused_study(a_grayscale_photograph())
        self.client.login(username="alice", password=PASSWORD)
        r = self.client.post(reverse("study_analyse_anyway", kwargs={"pk": study.pk}), {"reason": REASON})
        self.assertEqual(r.status_code, 403)
        self.assertFalse(AuditEvent.objects.filter(action="gate_overridden").exists())
