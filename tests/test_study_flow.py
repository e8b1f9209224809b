"""A real radiograph through the worker to the viewer, then a radiologist's review."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from app.clinical.models import AuditEvent, Study
from app.jobs import queue
from app.jobs.worker import Worker
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory, StudyFactory
from tests.shared_data import a_radiograph, requires_shared


@pytest.mark.usefixtures("tiny_pack_active")
class StudyFlowTestCase(BaseTestCase):
    def run_worker_once(self) -> None:
        worker = Worker(worker_id="test")
        job = queue.claim_next("test")
        self.assertIsNotNone(job)
        worker.execute(job)

    @requires_shared
    def test_upload_analyse_view_and_review(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        patient = StudyFactory().patient
        self.client.post(reverse("upload"), {"patient": patient.pk, "files": [SimpleUploadedFile("cxr.jpg", a_radiograph().read_bytes())]})
        study = Study.objects.exclude(original_name="chest.png").get()
        self.run_worker_once()
        study.refresh_from_db()
        analysis = study.latest_analysis
        self.assertEqual(analysis.status, "analysed", analysis.message)
        self.assertEqual(analysis.pack_name, "tiny-test")
        self.assertTrue(analysis.demonstration)

        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertContains(page, "Demonstration model, not for diagnosis")
        self.assertContains(page, analysis.result["consensus"]["agreement_text"])
        self.assertContains(page, 'id="viewer-heatmap"')
        self.assertNotContains(page, "Sign review")  # radiographers do not review
        heatmap = self.client.get(reverse("study_image", kwargs={"pk": study.pk, "kind": "heatmap"}))
        self.assertEqual(heatmap.status_code, 200)
        self.assertEqual(b"".join(heatmap.streaming_content)[:8], b"\x89PNG\r\n\x1a\n")

        self.client.login(username="carol", password=PASSWORD)
        other = next(c for c in analysis.result["classes"] if c != analysis.finding)
        r = self.client.post(reverse("study_review", kwargs={"pk": study.pk}), {"finding": other, "note": ""})
        self.assertContains(r, "Say why when you override", status_code=400)
        r = self.client.post(reverse("study_review", kwargs={"pk": study.pk}), {"finding": other, "note": "Clear lungs on my read."})
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": study.pk}))
        study.refresh_from_db()
        self.assertTrue(study.reviewed)
        review = study.reviews.get()
        self.assertEqual((review.ai_finding, review.finding, review.agrees_with_ai), (analysis.finding, other, False))
        self.assertTrue(AuditEvent.objects.filter(action="reviewed", username="carol").exists())
        listing = self.client.get(reverse("worklist") + "?reviewed=yes")
        self.assertContains(listing, patient.patient_id)

    def test_a_refusal_is_shown_as_such_with_a_retry(self) -> None:
        import io

        import numpy as np
        from PIL import Image

        self.client.login(username="bob", password=PASSWORD)
        patient = StudyFactory().patient
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)).save(buffer, "PNG")
        self.client.post(reverse("upload"), {"patient": patient.pk, "files": [SimpleUploadedFile("noise.png", buffer.getvalue())]})
        self.run_worker_once()
        study = Study.objects.get(original_name="noise.png")
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertContains(page, "No finding was made.")
        self.assertContains(page, "random noise")
        self.assertContains(page, "Analyse again")
        original = self.client.get(reverse("study_image", kwargs={"pk": study.pk, "kind": "original"}))
        self.assertEqual(b"".join(original.streaming_content)[:4], b"\x89PNG")


class WorklistTestCase(BaseTestCase):
    def test_priority_order_puts_unreviewed_positives_first(self) -> None:
        normal = AnalysisFactory(finding="Normal", positive=False).study
        positive = AnalysisFactory(finding="Abnormal", positive=True).study
        reviewed = AnalysisFactory(finding="Abnormal", positive=True).study
        Study.objects.filter(pk=reviewed.pk).update(reviewed=True)
        self.client.login(username="bob", password=PASSWORD)
        ids = [s.pk for s in self.client.get(reverse("worklist")).context["page"].object_list]
        self.assertEqual(ids, [positive.pk, normal.pk, reviewed.pk])

    def test_filters(self) -> None:
        AnalysisFactory(finding="Normal", positive=False)
        target = AnalysisFactory(finding="Abnormal").study
        self.client.login(username="bob", password=PASSWORD)
        page = self.client.get(reverse("worklist"), {"finding": "Abnormal", "reviewed": "no", "q": target.patient.patient_id})
        self.assertEqual([s.pk for s in page.context["page"].object_list], [target.pk])

    def test_query_count_does_not_grow_with_page_size(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        self.client.get(reverse("home"))  # the first request after log-in skips the idle check
        AnalysisFactory.create_batch(3)
        with CaptureQueriesContext(connection) as few:
            self.client.get(reverse("worklist"))
        AnalysisFactory.create_batch(20)
        with CaptureQueriesContext(connection) as many:
            self.client.get(reverse("worklist"))
        self.assertEqual(len(few), len(many))
