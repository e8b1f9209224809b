"""The job state machine: claims, finishes, cancels and crash recovery are conditional updates."""

from __future__ import annotations

from datetime import timedelta

from django.test import TestCase
from django.utils import timezone

from app.jobs import queue
from app.jobs.models import MAX_ATTEMPTS, Job, JobState, Priority
from app.jobs.worker import Worker


class QueueTestCase(TestCase):
    def test_it_claims_the_oldest_job_once(self) -> None:
        first = queue.enqueue("diagnostics.sleep")
        second = queue.enqueue("diagnostics.sleep")
        claimed = queue.claim_next("w1")
        self.assertEqual(claimed.id, first.id)
        self.assertEqual(claimed.state, JobState.RUNNING)
        self.assertEqual(claimed.attempts, 1)
        self.assertEqual(queue.claim_next("w2").id, second.id)
        self.assertIsNone(queue.claim_next("w3"))

    def test_only_the_owner_can_finish_a_job(self) -> None:
        queue.enqueue("diagnostics.sleep")
        job = queue.claim_next("w1")
        self.assertFalse(queue.mark_succeeded(job, "someone-else", {}))
        self.assertTrue(queue.mark_succeeded(job, "w1", {"ok": 1}))
        self.assertFalse(queue.mark_failed(job, "w1", "too late"))  # final states never change
        job.refresh_from_db()
        self.assertEqual(job.state, JobState.SUCCEEDED)
        self.assertEqual(job.result, {"ok": 1})
        self.assertIsNotNone(job.finished_at)

    def test_it_cancels_a_queued_job_at_once(self) -> None:
        job = queue.enqueue("diagnostics.sleep")
        self.assertEqual(queue.request_cancel(job.id), JobState.CANCELLED)
        self.assertIsNone(queue.claim_next("w1"))

    def test_it_flags_a_running_job_for_cancel(self) -> None:
        queue.enqueue("diagnostics.sleep")
        job = queue.claim_next("w1")
        self.assertEqual(queue.request_cancel(job.id), JobState.RUNNING)
        self.assertEqual(queue.report_progress(job, "w1", 0.5, "half"), (True, True))

    def test_it_requeues_all_running_jobs_for_the_single_workstation(self) -> None:
        queue.enqueue("diagnostics.sleep")
        job = queue.claim_next("dead-worker")
        self.assertEqual(queue.requeue_orphaned(all_running=True), (1, 0))
        job.refresh_from_db()
        self.assertEqual(job.state, JobState.QUEUED)
        self.assertEqual(queue.claim_next("w2").attempts, 2)

    def test_it_requeues_only_stale_jobs_for_separate_workers(self) -> None:
        queue.enqueue("diagnostics.sleep")
        queue.enqueue("diagnostics.sleep")
        stale = queue.claim_next("dead")
        fresh = queue.claim_next("alive")
        Job.objects.filter(id=stale.id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
        self.assertEqual(queue.requeue_orphaned(stale_after=timedelta(seconds=60)), (1, 0))
        fresh.refresh_from_db()
        self.assertEqual(fresh.state, JobState.RUNNING)

    def test_it_fails_a_job_that_keeps_killing_the_worker(self) -> None:
        job = queue.enqueue("diagnostics.sleep")
        for _ in range(MAX_ATTEMPTS):
            queue.claim_next("w")
            queue.requeue_orphaned(all_running=True)
        job.refresh_from_db()
        self.assertEqual(job.state, JobState.FAILED)
        self.assertIn("stopped unexpectedly", job.error)

    def test_it_reports_queue_position(self) -> None:
        a = queue.enqueue("diagnostics.sleep")
        b = queue.enqueue("diagnostics.sleep")
        self.assertEqual(queue.queue_position(a), 1)
        self.assertEqual(queue.queue_position(b), 2)

    def test_a_person_waiting_goes_ahead_of_bulk_work(self) -> None:
        bulk = [queue.enqueue("diagnostics.sleep", priority=Priority.BULK) for _ in range(50)]
        upload = queue.enqueue("diagnostics.sleep")
        backup = queue.enqueue("diagnostics.sleep", priority=Priority.URGENT)
        self.assertEqual(queue.queue_position(backup), 1)
        self.assertEqual(queue.queue_position(upload), 2)
        self.assertEqual(queue.queue_position(bulk[0]), 3)
        self.assertEqual(queue.queue_position(bulk[-1]), 52)
        self.assertEqual([queue.claim_next("w").id for _ in range(3)], [backup.id, upload.id, bulk[0].id])

    def test_back_up_now_and_a_folder_import_queue_at_their_priorities(self) -> None:
        from django.contrib.auth.models import User
        from django.urls import reverse

        from app.core.models import ClinicSettings
        from app.core.roles import ADMINISTRATOR, grant
        from app.backups.jobs import BACKUP

        ClinicSettings.objects.create(pk=1, clinic_name="Clinic", backup_folder="/tmp")
        grant(User.objects.create_user("alice", password="pw-long-enough-1"), ADMINISTRATOR)
        self.client.login(username="alice", password="pw-long-enough-1")
        self.client.post(reverse("backup_now"))
        self.assertEqual(Job.objects.get(kind=BACKUP).priority, Priority.URGENT)


class WorkerTestCase(TestCase):
    def run_one(self, kind: str, payload: dict) -> Job:
        job = queue.enqueue(kind, payload)
        worker = Worker(worker_id="test-worker")
        claimed = queue.claim_next(worker.worker_id)
        worker.execute(claimed)
        job.refresh_from_db()
        return job

    def test_it_runs_a_job_to_success_with_progress(self) -> None:
        job = self.run_one("diagnostics.sleep", {"seconds": 0.2})
        self.assertEqual(job.state, JobState.SUCCEEDED)
        self.assertEqual(job.progress, 1.0)
        self.assertEqual(job.result["steps"], 2)

    def test_it_stores_a_readable_failure(self) -> None:
        job = self.run_one("diagnostics.fail", {"message": "The file is not an image."})
        self.assertEqual(job.state, JobState.FAILED)
        self.assertEqual(job.error, "The file is not an image.")

    def test_it_fails_an_unknown_kind_clearly(self) -> None:
        job = self.run_one("no.such.kind", {})
        self.assertEqual(job.state, JobState.FAILED)
        self.assertIn("no.such.kind", job.error)

    def test_it_honours_cancel_at_the_next_checkpoint(self) -> None:
        job = queue.enqueue("diagnostics.sleep", {"seconds": 5})
        worker = Worker(worker_id="w")
        claimed = queue.claim_next("w")
        queue.request_cancel(job.id)
        worker.execute(claimed)
        job.refresh_from_db()
        self.assertEqual(job.state, JobState.CANCELLED)

    def test_it_gives_the_job_back_when_stopping(self) -> None:
        job = queue.enqueue("diagnostics.sleep", {"seconds": 5})
        worker = Worker(worker_id="w")
        claimed = queue.claim_next("w")
        worker.stop()
        worker.execute(claimed)
        job.refresh_from_db()
        self.assertEqual(job.state, JobState.QUEUED)
        self.assertEqual(job.attempts, 0)
