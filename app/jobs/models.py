"""Jobs are database rows; the database is the queue.

State machine (every transition is a conditional UPDATE, so it happens at most once):

    queued ──claim──▶ running ──handler returns──▶ succeeded
      │                 │  ├────handler raises────▶ failed     (error holds the readable reason)
      │                 │  ├────cancel observed───▶ cancelled
      │                 │  └────worker stopping───▶ queued     (shutdown: re-queued, not lost)
      │                 └──worker died (crash)────▶ queued     (re-queued at the next start-up,
      │                                                        or failed after MAX_ATTEMPTS)
      └──────────cancel──────────────────────────▶ cancelled

A job in a final state (succeeded, failed, cancelled) never changes again; retry creates a new job.

Order: the queued job with the highest priority runs first, then the oldest. Work a person is
waiting for at the desk (Back up now) goes ahead of bulk work (a thousand imported films).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils import timezone


class JobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

# A job whose worker died this many times is failed rather than re-queued again: a file that
# crashes the process every time must not take the workstation down forever.
MAX_ATTEMPTS = 3


class Priority(models.IntegerChoices):
    BULK = -10, "Bulk"  # folder imports and their analyses
    NORMAL = 0, "Normal"  # an upload's analysis
    URGENT = 10, "Urgent"  # asked for by a person now (Back up now)


class Job(models.Model):
    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    progress = models.FloatField(default=0.0, help_text="0..1")
    progress_message = models.CharField(max_length=200, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Readable reason shown to the user when failed.")
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    worker_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "id"], name="job_state_id"),
            models.Index(fields=["state", "-priority", "id"], name="job_claim_order"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} {self.kind} [{self.state}]"


class WorkerHeartbeat(models.Model):
    """One row per worker (in-process thread or separate process), refreshed while it lives.

    `status` carries what the worker knows about its compute engine (device, model pack), so
    /health can report it even when the worker runs in another process.
    """

    worker_id = models.CharField(max_length=100, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    status = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Worker {self.worker_id}"
