"""A real radiograph through the worker to the viewer, then a radiologist's review."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from app.audit.models import AuditEvent
from app.clinical.models import Study
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
        # The finished analysis set the study's place in the worklist's default order.
        self.assertEqual(study.worklist_priority, 4 + 2 * analysis.positive + analysis.needs_review)

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
        r = self.client.post(reverse("study_review", kwargs={"pk": study.pk}), {"finding": other, "note": "Clear lungs on my read.", "action": "sign"})
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": study.pk}))
        study.refresh_from_db()
        self.assertTrue(study.reviewed)
        review = study.reviews.get()
        self.assertEqual((review.ai_finding, review.finding, review.agrees_with_ai), (analysis.finding, other, False))
        self.assertTrue(AuditEvent.objects.filter(action="reviewed", username="carol").exists())
        listing = self.client.get(reverse("worklist") + "?reviewed=yes")
        self.assertContains(listing, patient.patient_id)

    def test_a_refusal_is_shown_as_such_and_sent_for_a_retake_not_a_retry(self) -> None:
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
        # The gate would refuse it again: the page offers the retake and voiding instead.
        self.assertNotContains(page, "Analyse again")
        self.assertContains(page, "Upload the retake")
        self.assertContains(page, reverse("study_void", kwargs={"pk": study.pk}))
        home = self.client.get(reverse("home"))
        self.assertContains(home, "Retake needed")
        self.assertContains(home, "random noise")
        original = self.client.get(reverse("study_image", kwargs={"pk": study.pk, "kind": "original"}))
        self.assertEqual(b"".join(original.streaming_content)[:4], b"\x89PNG")


class WorklistTestCase(BaseTestCase):
    def test_priority_order_puts_unreviewed_positives_first(self) -> None:
        normal = AnalysisFactory(finding="Normal", positive=False).study
        positive = AnalysisFactory(finding="Abnormal", positive=True).study
        reviewed = AnalysisFactory(finding="Abnormal", positive=True).study
        self.client.login(username="bob", password=PASSWORD)
        ids = [s.pk for s in self.client.get(reverse("worklist")).context["page"].object_list]
        self.assertEqual(ids, [reviewed.pk, positive.pk, normal.pk])  # positives first, newest first

        # Signing a review moves the study behind the unreviewed ones, normal included.
        self.client.login(username="carol", password=PASSWORD)
        self.client.post(reverse("study_review", kwargs={"pk": reviewed.pk}), {"finding": "Abnormal", "note": ""})
        ids = [s.pk for s in self.client.get(reverse("worklist")).context["page"].object_list]
        self.assertEqual(ids, [positive.pk, normal.pk, reviewed.pk])

    def test_it_lists_only_the_first_max_rows_and_says_how_to_reach_the_rest(self) -> None:
        for _ in range(31):
            AnalysisFactory()
        self.client.login(username="bob", password=PASSWORD)
        with patch("app.core.paging.MAX_ROWS", 30):
            first = self.client.get(reverse("worklist"))
            deep = self.client.get(reverse("worklist"), {"page": 2000})
            narrowed = self.client.get(reverse("worklist"), {"sort": "oldest", "q": Study.objects.earliest("uploaded_at").patient.patient_id})
        self.assertEqual(first.context["page"].paginator.num_pages, 2)  # 30 rows of 31, 25 a page
        self.assertContains(first, "More than 30 match; only the first 30 are listed.")
        self.assertEqual(deep.context["page"].number, 2)  # an old link past the end shows the last page offered
        self.assertEqual(len(deep.context["page"].object_list), 5)
        self.assertNotContains(narrowed, "More than 30 match")
        self.assertEqual(len(narrowed.context["page"].object_list), 1)

    def test_it_offers_every_finding_made_and_nothing_else(self) -> None:
        for finding in ("Normal", "Viral Pneumonia", "Normal", "COVID-19"):
            AnalysisFactory(finding=finding)
        AnalysisFactory(finding="", status="refused")
        AnalysisFactory(finding="", status="queued")
        self.client.login(username="bob", password=PASSWORD)
        self.assertEqual(self.client.get(reverse("worklist")).context["findings"], ["COVID-19", "Normal", "Viral Pneumonia"])

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
