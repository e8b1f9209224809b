"""The job queue: every state change is a conditional UPDATE on the job row.

Works the same on SQLite (one workstation) and PostgreSQL (several worker processes): a job is
claimed by `UPDATE ... WHERE id = ? AND state = 'queued'`, and only the worker whose UPDATE
touched the row runs it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from app.jobs.models import MAX_ATTEMPTS, Job, JobState, Priority

log = logging.getLogger(__name__)

CLAIM_CANDIDATES = 5  # how many queued ids one claim attempt tries before looking again


def enqueue(kind: str, payload: dict[str, Any] | None = None, priority: int = Priority.NORMAL) -> Job:
    return Job.objects.create(kind=kind, payload=payload or {}, priority=priority)


def claim_next(worker_id: str) -> Job | None:
    """Atomically take the next queued job (highest priority, then oldest), or None if there is none."""
    while True:
        candidates = list(
            Job.objects.filter(state=JobState.QUEUED).order_by("-priority", "id").values_list("id", flat=True)[:CLAIM_CANDIDATES]
        )
        if not candidates:
            return None
        now = timezone.now()
        for job_id in candidates:
            claimed = Job.objects.filter(id=job_id, state=JobState.QUEUED).update(
                state=JobState.RUNNING,
                worker_id=worker_id,
                started_at=now,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
                progress=0.0,
                progress_message="Started",
            )
            if claimed:
                return Job.objects.get(id=job_id)
        # Every candidate was taken by another worker between our SELECT and UPDATE; look again.


def _finish(job: Job, worker_id: str, state: JobState, **fields: Any) -> bool:
    return bool(
        Job.objects.filter(id=job.id, state=JobState.RUNNING, worker_id=worker_id).update(
            state=state, finished_at=timezone.now(), **fields
        )
    )


def mark_succeeded(job: Job, worker_id: str, result: dict[str, Any] | None) -> bool:
    return _finish(job, worker_id, JobState.SUCCEEDED, result=result, progress=1.0, progress_message="Done")


def mark_failed(job: Job, worker_id: str, error: str) -> bool:
    return _finish(job, worker_id, JobState.FAILED, error=error, progress_message="Failed")


def mark_cancelled(job: Job, worker_id: str) -> bool:
    return _finish(job, worker_id, JobState.CANCELLED, progress_message="Cancelled")


def _back_to_queue(message: str) -> dict[str, Any]:
    """The fields a running job gets when it goes back to the queue."""
    return {
        "state": JobState.QUEUED,
        "worker_id": "",
        "started_at": None,
        "heartbeat_at": None,
        "progress": 0.0,
        "progress_message": message,
    }


def release(job: Job, worker_id: str) -> bool:
    """Give a running job back to the queue (worker shutting down); it does not count as an attempt."""
    return bool(
        Job.objects.filter(id=job.id, state=JobState.RUNNING, worker_id=worker_id).update(
            **_back_to_queue("Waiting (re-queued at shutdown)"),
            attempts=F("attempts") - 1,
        )
    )


def report_progress(job: Job, worker_id: str, fraction: float, message: str) -> tuple[bool, bool]:
    """Store progress; returns (still_ours, cancel_requested)."""
    fraction = min(max(fraction, 0.0), 1.0)
    updated = Job.objects.filter(id=job.id, state=JobState.RUNNING, worker_id=worker_id).update(
        progress=fraction, progress_message=message[:200], heartbeat_at=timezone.now()
    )
    if not updated:
        return False, False
    cancel = Job.objects.filter(id=job.id).values_list("cancel_requested", flat=True).first()
    return True, bool(cancel)


def request_cancel(job_id: int) -> JobState | None:
    """Cancel a job: a queued one at once, a running one when its handler next reports progress.

    Returns the job's state after the request (None if there is no such job).
    """
    with transaction.atomic():
        if Job.objects.filter(id=job_id, state=JobState.QUEUED).update(
            state=JobState.CANCELLED, cancel_requested=True, finished_at=timezone.now(), progress_message="Cancelled"
        ):
            return JobState.CANCELLED
        Job.objects.filter(id=job_id, state=JobState.RUNNING).update(cancel_requested=True)
    return Job.objects.filter(id=job_id).values_list("state", flat=True).first()


def requeue_orphaned(*, all_running: bool = False, stale_after: timedelta | None = None) -> tuple[int, int]:
    """Put back jobs whose worker died mid-job. Returns (requeued, failed).

    `all_running=True` is for the single-workstation launcher, which holds the instance lock and
    therefore knows no other worker is alive. Separate worker processes use `stale_after` and only
    touch jobs whose heartbeat has gone quiet.
    """
    running = Job.objects.filter(state=JobState.RUNNING)
    if not all_running:
        if stale_after is None:
            raise ValueError("requeue_orphaned needs all_running=True or stale_after")
        running = running.filter(heartbeat_at__lt=timezone.now() - stale_after)
    now = timezone.now()
    doomed = list(running.filter(attempts__gte=MAX_ATTEMPTS).values_list("id", flat=True))
    error = (
        f"The work stopped unexpectedly {MAX_ATTEMPTS} times while processing this item, "
        "so it was not tried again. The file may be damaged; check it and retry."
    )
    failed = Job.objects.filter(id__in=doomed, state=JobState.RUNNING).update(
        state=JobState.FAILED, finished_at=now, progress_message="Failed", error=error
    )
    requeued = running.filter(attempts__lt=MAX_ATTEMPTS).update(
        **_back_to_queue("Waiting (re-queued after an unexpected stop)")
    )
    for job in Job.objects.filter(id__in=doomed, state=JobState.FAILED):
        notify_failure(job, error)
    return requeued, failed


def notify_failure(job: Job, error: str) -> None:
    """Let the job's kind mark what it was working for as failed (see registry.register_failure_hook)."""
    from app.jobs import registry

    hook = registry.failure_hook_for(job.kind)
    if hook is None:
        return
    try:
        hook(job.id, job.payload, error)
    except Exception:  # the hook's own failure must not stop a requeue or the worker
        log.exception("Failure hook for %s failed", job)


def queue_position(job: Job) -> int | None:
    """1 for the next job to run; None unless the job is queued."""
    if job.state != JobState.QUEUED:
        return None
    ahead = Q(priority__gt=job.priority) | Q(priority=job.priority, id__lte=job.id)
    return Job.objects.filter(ahead, state=JobState.QUEUED).count()
