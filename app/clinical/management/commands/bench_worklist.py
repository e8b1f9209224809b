"""Measure the worklist, study, dashboard and statistics pages with many studies:
`manage.py bench_worklist --studies 100000 [--signed 600]` (--signed: that many of the newest
studies get a four-class AI result and a radiologist's signed read, for the statistics page).

Refuses to run on a database that already holds studies (it fills the database with fake rows).
Use a throw-away data directory: CXR_DATA_DIR=/tmp/bench python manage.py bench_worklist
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from app.clinical.models import Analysis, AnalysisStatus, Patient, Review, Study, refresh_worklist_priority
from app.core.roles import ADMINISTRATOR, RADIOLOGIST, grant

BATCH = 5000


class Command(BaseCommand):
    help = "Fill an empty database with fake studies and time the worklist and dashboard."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--studies", type=int, default=100_000)
        parser.add_argument(
            "--days", type=int, default=1,
            help="spread the uploads evenly over this many days up to now (1, the default, puts them all in "
            "the dashboard's two-week window: its worst case; a real archive of 1,000,000 studies spans years)",
        )
        parser.add_argument("--again", action="store_true", help="measure a data directory this command filled before, without filling it")
        parser.add_argument("--signed", type=int, default=600, help="the newest studies that get a result and a signed read")

    def handle(self, *args: Any, studies: int, days: int, again: bool, signed: int, **options: Any) -> None:
        if again:
            if not User.objects.filter(username="bench-radiologist").exists():
                raise CommandError("--again needs a data directory this command filled before.")
            self.measure(User.objects.get(username="bench-radiologist"))
            return
        if Study.objects.exists():
            raise CommandError("This database already has studies; use an empty data directory.")
        rng = random.Random(0)
        started = time.perf_counter()
        now = timezone.now()
        step = timedelta(days=days) / studies
        with transaction.atomic():
            patients = Patient.objects.bulk_create([Patient(patient_id=f"B{i:07d}", full_name=f"Bench Patient {i}", name_search=f"bench patient {i}") for i in range(studies // 2)])
            for start in range(0, studies, BATCH):
                batch = [
                    Study(
                        patient=patients[rng.randrange(len(patients))], sha256=f"{i:064x}", original_name="x.png", stored_name=f"{i:064x}.png",
                        file_format="png", size_bytes=1, reviewed=rng.random() < 0.7, uploaded_at=now - (studies - i) * step,
                    )
                    for i in range(start, min(start + BATCH, studies))
                ]
                Study.objects.bulk_create(batch)
                Analysis.objects.bulk_create(
                    [Analysis(study=s, status=AnalysisStatus.ANALYSED, finding=rng.choice(["Normal", "Abnormal"]), confidence=rng.random(), needs_review=rng.random() < 0.3, positive=rng.random() < 0.5, seconds=0.2, finished_at=s.uploaded_at) for s in batch]
                )
            # One analysis per study: it is the latest.
            Study.objects.update(latest_analysis=Subquery(Analysis.objects.filter(study=OuterRef("pk")).values("pk")[:1]))
            refresh_worklist_priority(Study.objects.all())
        self.stdout.write(f"Inserted {studies} studies in {time.perf_counter() - started:.1f} s")
        user = User.objects.create_user("bench-radiologist", password="bench-password-123")
        grant(user, RADIOLOGIST, ADMINISTRATOR)
        self.sign_newest(user, signed, rng)
        self.measure(user)

    def sign_newest(self, user: User, count: int, rng: random.Random) -> None:
        """Four-class results and signed reads (80% agreeing) on the newest studies, as a month
        of a clinic's reading looks to the statistics page."""
        classes = ["COVID-19", "Lung Opacity", "Normal", "Viral Pneumonia"]
        reviews = []
        with transaction.atomic():
            for study in Study.objects.select_related("latest_analysis").order_by("-uploaded_at")[:count]:
                analysis = study.latest_analysis
                finding = rng.choice(classes)
                probabilities = {c: (0.7 if c == finding else 0.1) for c in classes}
                analysis.finding, analysis.needs_review = finding, rng.random() < 0.3
                analysis.result = {
                    "schema_version": 2, "status": "analysed", "classes": classes, "pack": {"name": "bench", "version": "1.0.0", "validated": False},
                    "consensus": {"finding": finding, "confidence": 0.7, "probabilities": probabilities, "needs_review": analysis.needs_review, "positive": finding != "Normal"},
                    "members": [], "images": {},
                }
                analysis.save(update_fields=["finding", "needs_review", "result"])
                read = finding if rng.random() < 0.8 else rng.choice(classes)
                reviews.append(Review(study=study, analysis=analysis, reviewer=user, ai_finding=finding, finding=read, agrees_with_ai=read == finding,
                                      signed_at=study.uploaded_at + timedelta(minutes=rng.randint(5, 600))))
            Review.objects.bulk_create(reviews)
        self.stdout.write(f"Signed {len(reviews)} studies")

    def study_positions(self) -> list[tuple[str, int]]:
        order = Study.objects.order_by("-worklist_priority", "-uploaded_at", "-id").values_list("pk", flat=True)
        total = order.count()
        return [("first", order[0]), ("middle", order[total // 2]), ("last", order[total - 1])]

    def measure(self, user: User) -> None:
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        for label, url in [
            ("worklist, default priority order, page 1", "/worklist/"),
            ("worklist, page 2000 (an old link: answered with the last page offered)", "/worklist/?page=2000"),
            ("worklist, page 400 (the last page offered)", "/worklist/?page=400"),
            ("worklist, newest first, page 400", "/worklist/?sort=newest&page=400"),
            ("worklist, not reviewed + Abnormal", "/worklist/?reviewed=no&finding=Abnormal"),
            ("worklist, patient search", "/worklist/?q=B00012"),
            ("patients, page 400", "/patients/?page=400"),
            ("dashboard", "/"),
            ("statistics, last 30 days", "/statistics/"),
            ("statistics, last 365 days", "/statistics/?period=year"),
            # The study page finds its previous and next study in the worklist's order.
            *[(f"study page, {where} of the default order", f"/studies/{study_id}/") for where, study_id in self.study_positions()],
            ("study page, oldest of newest-first", f"/studies/{Study.objects.order_by('uploaded_at', 'id').values_list('pk', flat=True).first()}/?sort=newest"),
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
