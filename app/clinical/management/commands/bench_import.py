"""Time a batch import and the analyses it queues: `manage.py bench_import FOLDER [--limit N]`.

Runs the real job handlers in this process with one worker, like the workstation does, on an
empty throw-away data directory (CXR_DATA_DIR=/tmp/bench-import). Prints files per second for the
import and images per second for the analyses (active model pack, this machine's device).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from app.clinical import batch_import
from app.clinical.models import Analysis, Study
from app.jobs import queue
from app.jobs.worker import Worker


class Command(BaseCommand):
    help = "Time importing a folder and analysing what it stored."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--limit", type=int, default=0, help="import only the first N files")

    def handle(self, *args: Any, folder: Path, limit: int, **options: Any) -> None:
        if Study.objects.exists():
            raise CommandError("Use an empty data directory: this command fills it with studies.")
        source = folder
        if limit:
            source = Path(tempfile.mkdtemp(prefix="bench-import-"))
            for path in batch_import.candidate_files(folder)[:limit]:
                shutil.copy2(path, source / path.name)
        user, _ = User.objects.get_or_create(username="bench-import")
        worker = Worker(worker_id="bench")
        worker.warm_up()
        batch = batch_import.start(source, user, confirmed=True)
        started = time.perf_counter()
        worker.execute(queue.claim_next(worker.worker_id))
        imported = time.perf_counter() - started
        counts = batch_import.counts(batch)
        self.stdout.write(f"Imported {counts['total']} files ({counts['stored']} stored, {counts['duplicate']} duplicates, {counts['failed']} failed) in {imported:.1f} s: {counts['total'] / imported:.1f} files/s")
        started = time.perf_counter()
        while (job := queue.claim_next(worker.worker_id)) is not None:
            worker.execute(job)
        analysed = time.perf_counter() - started
        done = Analysis.objects.exclude(status__in=["queued", "running"]).count()
        by_status = {s: Analysis.objects.filter(status=s).count() for s in ("analysed", "refused", "failed")}
        self.stdout.write(f"Analysed {done} studies {by_status} in {analysed:.1f} s: {done / analysed:.2f} images/s, {analysed / max(done, 1):.3f} s each, on {worker.status.get('device')}")
