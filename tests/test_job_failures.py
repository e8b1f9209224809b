"""A job that dies where its handler cannot report it still leaves its study failed, with a Retry."""

from __future__ import annotations

import pytest
from django.urls import reverse

from app.clinical import jobs as clinical_jobs
from app.clinical.intake import queue_analysis
from app.clinical.models import AnalysisStatus
from app.jobs import queue
from app.jobs.models import MAX_ATTEMPTS, Job, JobState
from app.jobs.worker import Worker
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import StudyFactory


class JobFailureTestCase(BaseTestCase):
    def assert_failed_with_retry(self, study, reason: str) -> None:  # noqa: ANN001
        analysis = study.analyses.get()
        self.assertEqual(analysis.status, AnalysisStatus.FAILED)
        self.assertIn(reason, analysis.message)
        self.client.login(username="bob", password=PASSWORD)
        page = self.client.get(reverse("study_status", kwargs={"pk": study.pk}))
        self.assertContains(page, "The analysis failed.")
        self.assertContains(page, "Analyse again")
        self.assertNotContains(page, "every 1s")  # the page stops polling

    def test_a_job_that_crashed_its_worker_too_often_fails_its_study(self) -> None:
        study = StudyFactory()
        analysis = queue_analysis(study)
        # The worker died mid-job for the last allowed time: the job is still "running".
        Job.objects.filter(id=analysis.job_id).update(state=JobState.RUNNING, attempts=MAX_ATTEMPTS, worker_id="dead")
        Analysis = type(analysis)
        Analysis.objects.filter(id=analysis.id).update(status=AnalysisStatus.RUNNING)
        requeued, failed = queue.requeue_orphaned(all_running=True)
        self.assertEqual((requeued, failed), (0, 1))
        self.assert_failed_with_retry(study, f"stopped unexpectedly {MAX_ATTEMPTS} times")

    def test_an_unexpected_error_in_the_analysis_fails_its_study(self) -> None:
        study = StudyFactory()
        queue_analysis(study)

        def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise RuntimeError("disk vanished")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(clinical_jobs, "run_engine", broken)
            Worker(worker_id="test").execute(queue.claim_next("test"))
        self.assert_failed_with_retry(study, "Unexpected error: RuntimeError: disk vanished")

    def test_retry_after_a_failure_queues_a_new_analysis(self) -> None:
        study = StudyFactory()
        analysis = queue_analysis(study)
        clinical_jobs.analysis_failed(analysis.job_id, {"analysis_id": analysis.id}, "boom")
        self.client.login(username="bob", password=PASSWORD)
        self.client.post(reverse("study_retry", kwargs={"pk": study.pk}))
        study.refresh_from_db()
        self.assertNotEqual(study.latest_analysis_id, analysis.id)
        self.assertEqual(study.latest_analysis.status, AnalysisStatus.QUEUED)
