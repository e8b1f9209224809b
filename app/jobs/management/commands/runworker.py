"""Run the job worker in its own process: `python manage.py runworker`.

For sites that outgrow one workstation: run the web server with CXR_INPROCESS_WORKER=0 and any
number of these against the same (PostgreSQL) database.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from app.jobs import queue
from app.jobs.worker import Worker


class Command(BaseCommand):
    help = "Run a job worker until SIGTERM or Ctrl-C."

    def handle(self, *args: Any, **options: Any) -> None:
        worker = Worker()
        requeued, failed = queue.requeue_orphaned(stale_after=timedelta(seconds=settings.WORKER_STALE_SECONDS))
        if requeued or failed:
            self.stdout.write(f"Re-queued {requeued} and failed {failed} jobs left by dead workers")

        def stop(signum: int, frame: Any) -> None:
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Worker {worker.worker_id} running; Ctrl-C to stop")
        worker.run()
