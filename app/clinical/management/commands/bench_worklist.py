"""Measure the worklist and dashboard with many studies: `manage.py bench_worklist --studies 100000`.

Refuses to run on a database that already holds studies (it fills the database with fake rows).
Use a throw-away data directory: CXR_DATA_DIR=/tmp/bench python manage.py bench_worklist
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from app.clinical.models import Analysis, AnalysisStatus, Patient, Study
from app.core.roles import RADIOLOGIST, grant

BATCH = 5000


class Command(BaseCommand):
    help = "Fill an empty database with fake studies and time the worklist and dashboard."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--studies", type=int, default=100_000)

    def handle(self, *args: Any, studies: int, **options: Any) -> None:
        if Study.objects.exists():
            raise CommandError("This database already has studies; use an empty data directory.")
        rng = random.Random(0)
        started = time.perf_counter()
        with transaction.atomic():
            patients = Patient.objects.bulk_create([Patient(patient_id=f"B{i:07d}", full_name=f"Bench Patient {i}") for i in range(studies // 2)])
            for start in range(0, studies, BATCH):
                batch = [
                    Study(patient=patients[rng.randrange(len(patients))], sha256=f"{i:064x}", original_name="x.png", stored_name=f"{i:064x}.png", file_format="png", size_bytes=1, reviewed=rng.random() < 0.7)
                    for i in range(start, min(start + BATCH, studies))
                ]
                Study.objects.bulk_create(batch)
                analyses = Analysis.objects.bulk_create(
                    [Analysis(study=s, status=AnalysisStatus.ANALYSED, finding=rng.choice(["Normal", "Abnormal"]), confidence=rng.random(), needs_review=rng.random() < 0.3, positive=rng.random() < 0.5, seconds=0.2) for s in batch]
                )
                for s, a in zip(batch, analyses, strict=True):
                    s.latest_analysis = a
                Study.objects.bulk_update(batch, ["latest_analysis"])
        self.stdout.write(f"Inserted {studies} studies in {time.perf_counter() - started:.1f} s")
        user = User.objects.create_user("bench-radiologist", password="bench-password-123")
        grant(user, RADIOLOGIST)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        for label, url in [
            ("worklist, default priority order, page 1", "/worklist/"),
            ("worklist, page 2000", "/worklist/?page=2000"),
            ("worklist, not reviewed + Abnormal", "/worklist/?reviewed=no&finding=Abnormal"),
            ("worklist, patient search", "/worklist/?q=B00012"),
            ("dashboard", "/"),
        ]:
            timings = []
            for _ in range(5):
                with CaptureQueriesContext(connection) as queries:
                    t = time.perf_counter()
                    response = client.get(url)
                    timings.append(time.perf_counter() - t)
                assert response.status_code == 200, (url, response.status_code)
            timings.sort()
            self.stdout.write(f"{label}: median {timings[2] * 1000:.0f} ms, worst {timings[-1] * 1000:.0f} ms, {len(queries)} queries")
