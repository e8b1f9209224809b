"""The job worker: claims one job at a time from the database and runs its handler.

The same Worker runs as a thread inside the desktop launcher or as `manage.py runworker` in its
own process (several of them, against PostgreSQL, at a larger site). It only talks to the
database, never to the web server, which is what keeps that seam clean.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from django.db import close_old_connections
from django.utils import timezone

from app.jobs import queue, registry
from app.jobs.models import Job, WorkerHeartbeat

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0


class JobCancelled(Exception):
    """Raised inside a handler when the user cancelled its job."""


class JobInterrupted(Exception):
    """Raised inside a handler when the worker is shutting down; the job goes back to the queue."""


class JobError(Exception):
    """A failure whose message is written for the user (shown as the job's error)."""


class JobContext:
    """What a handler gets: its job's payload, and a way to report progress.

    `progress()` is also the handler's checkpoint: it raises JobCancelled or JobInterrupted, so a
    handler stops cleanly at the next step boundary.
    """

    def __init__(self, job: Job, worker: Worker) -> None:
        self.job = job
        self._worker = worker

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def stopping(self) -> bool:
        return self._worker.stop_event.is_set()

    def progress(self, fraction: float, message: str = "") -> None:
        if self.stopping:
            raise JobInterrupted()
        ours, cancel = queue.report_progress(self.job, self._worker.worker_id, fraction, message)
        self._worker.beat()
        if cancel or not ours:
            raise JobCancelled()


class Worker:
    def __init__(self, worker_id: str | None = None, poll_seconds: float = POLL_SECONDS) -> None:
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        self.status: dict[str, Any] = {"state": "starting"}
        self.current_job_id: int | None = None
        self._last_heartbeat = 0.0
        self._periodic_last_run: dict[object, float] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop taking jobs; a running job is finished or re-queued at its next checkpoint."""
        self.stop_event.set()

    def run(self) -> None:
        """Work until stop() is called. Never raises: a broken job must not kill the worker."""
        log.info("Worker %s starting", self.worker_id)
        try:
            self.beat(force=True)
            self.warm_up()
            while not self.stop_event.is_set():
                close_old_connections()
                try:
                    job = queue.claim_next(self.worker_id)
                except Exception:
                    log.exception("Could not claim a job; retrying")
                    job = None
                if job is None:
                    self.beat()
                    self.run_periodic()
                    self.stop_event.wait(self.poll_seconds)
                    continue
                self.execute(job)
        finally:
            self._remove_heartbeat()
            close_old_connections()
            log.info("Worker %s stopped", self.worker_id)

    def warm_up(self) -> None:
        """Run registered warm-ups (model loading); failures are reported, not fatal."""
        status: dict[str, Any] = {"state": "warming up"}
        self.status = status
        self.beat(force=True)
        for warm in registry.warmups():
            if self.stop_event.is_set():
                return
            try:
                status.update(warm())
            except Exception as exc:  # a broken model pack must not stop the queue
                log.exception("Warm-up %s failed", getattr(warm, "__name__", warm))
                status.setdefault("warmup_errors", []).append(str(exc))
        status["state"] = "ready"
        self.beat(force=True)

    def run_periodic(self) -> None:
        now = time.monotonic()
        for func, every in registry.periodic():
            if now - self._periodic_last_run.get(func, -every) >= every:
                self._periodic_last_run[func] = now
                try:
                    func()
                except Exception:
                    log.exception("Periodic check %s failed", getattr(func, "__name__", func))

    # -- one job ---------------------------------------------------------------------------

    def execute(self, job: Job) -> None:
        self.current_job_id = job.id
        handler = registry.handler_for(job.kind)
        try:
            if handler is None:
                queue.mark_failed(job, self.worker_id, f"This version of the app cannot run jobs of kind {job.kind!r}.")
                return
            log.info("Running %s (attempt %d)", job, job.attempts)
            result = handler(JobContext(job, self))
            if not queue.mark_succeeded(job, self.worker_id, result):
                log.warning("%s finished but was no longer ours (cancelled or re-queued)", job)
        except JobCancelled:
            queue.mark_cancelled(job, self.worker_id)
            log.info("%s cancelled", job)
        except JobInterrupted:
            queue.release(job, self.worker_id)
            log.info("%s re-queued because the worker is stopping", job)
        except JobError as exc:
            queue.mark_failed(job, self.worker_id, str(exc))
            log.info("%s failed: %s", job, exc)
        except Exception as exc:
            log.exception("%s failed with an unexpected error", job)
            error = f"Unexpected error: {exc.__class__.__name__}: {exc}"
            if queue.mark_failed(job, self.worker_id, error):
                queue.notify_failure(job, error)
        finally:
            self.current_job_id = None
            close_old_connections()

    # -- heartbeat -------------------------------------------------------------------------

    def beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_heartbeat < HEARTBEAT_SECONDS:
            return
        self._last_heartbeat = now
        try:
            WorkerHeartbeat.objects.update_or_create(
                worker_id=self.worker_id,
                defaults={
                    "hostname": socket.gethostname(),
                    "pid": os.getpid(),
                    "last_seen": timezone.now(),
                    "status": self.status,
                },
            )
        except Exception:
            log.exception("Could not write the worker heartbeat")

    def _remove_heartbeat(self) -> None:
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        except Exception:
            log.exception("Could not remove the worker heartbeat")


def start_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, name="job-worker", daemon=True)
    thread.start()
    return thread
