"""Backups as jobs: "Back up now" from the admin page, and a daily backup the worker schedules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from app.backups import archive as backup
from app.core.models import ClinicSettings
from app.jobs import queue
from app.jobs.models import Job, JobState
from app.jobs.registry import register, register_periodic
from app.jobs.worker import JobContext, JobError

BACKUP = "maintenance.backup"
DAILY = timedelta(hours=24)


@register(BACKUP)
def run_backup(ctx: JobContext) -> dict[str, Any]:
    clinic = ClinicSettings.current()
    folder = ctx.payload.get("folder") or (clinic.backup_folder if clinic else "")
    if not folder:
        raise JobError("No backup folder is set. Choose one on the Backups page.")
    ctx.progress(0.1, "Writing the backup")
    try:
        archive = backup.create(settings.DATA_DIR, Path(folder), keep=clinic.backups_kept if clinic else 7)
    except (backup.BackupError, OSError) as exc:
        ClinicSettings.objects.filter(pk=1).update(last_backup_error=f"{timezone.now():%Y-%m-%d %H:%M}: {exc}")
        raise JobError(f"The backup failed: {exc}") from exc
    ClinicSettings.objects.filter(pk=1).update(last_backup_at=timezone.now(), last_backup_error="")
    return {"archive": str(archive), "size_bytes": archive.stat().st_size}


def backup_pending() -> bool:
    return Job.objects.filter(kind=BACKUP, state__in=[JobState.QUEUED, JobState.RUNNING]).exists()


@register_periodic(every_seconds=300)
def daily_backup_check() -> None:
    clinic = ClinicSettings.current()
    if not clinic or not clinic.daily_backup or not clinic.backup_folder or backup_pending():
        return
    if clinic.last_backup_at is None or timezone.now() - clinic.last_backup_at >= DAILY:
        queue.enqueue(BACKUP, {"scheduled": True})
