"""What the live workers report about themselves (for /health and the dashboard)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from app.jobs.models import WorkerHeartbeat


def live_workers() -> list[WorkerHeartbeat]:
    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).order_by("-last_seen"))


def worker_summary() -> dict[str, Any]:
    workers = live_workers()
    if not workers:
        return {
            "alive": False,
            "count": 0,
            "state": "no worker running",
            "engine": {},
        }
    freshest = workers[0]
    engine = dict(freshest.status or {})
    return {
        "alive": True,
        "count": len(workers),
        "state": engine.pop("state", "unknown"),
        "engine": engine,
    }
