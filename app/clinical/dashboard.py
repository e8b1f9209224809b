"""Numbers for the start page: today, this week, pending reviews, speed, and a 14-day chart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from app.clinical.models import Analysis, AnalysisStatus, Study

CHART_DAYS = 14
CHART_HEIGHT = 120
BAR_WIDTH = 22


def summary() -> dict[str, Any]:
    now = timezone.localtime()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    counts = Study.objects.aggregate(
        today=Count("id", filter=Q(uploaded_at__gte=today)),
        week=Count("id", filter=Q(uploaded_at__gte=week)),
        positives_today=Count("id", filter=Q(uploaded_at__gte=today, latest_analysis__positive=True)),
        positives_week=Count("id", filter=Q(uploaded_at__gte=week, latest_analysis__positive=True)),
        pending_review=Count("id", filter=Q(reviewed=False, latest_analysis__status=AnalysisStatus.ANALYSED)),
        waiting=Count("id", filter=Q(latest_analysis__status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING])),
    )
    counts["average_seconds"] = Analysis.objects.filter(finished_at__gte=week, seconds__isnull=False).aggregate(v=Avg("seconds"))["v"]
    start = today - timedelta(days=CHART_DAYS - 1)
    per_day = {
        row["day"]: row
        for row in Study.objects.filter(uploaded_at__gte=start)
        .annotate(day=TruncDate("uploaded_at"))
        .values("day")
        .annotate(total=Count("id"), positive=Count("id", filter=Q(latest_analysis__positive=True)))
    }
    days = [(start + timedelta(days=i)).date() for i in range(CHART_DAYS)]
    peak = max([per_day.get(d, {}).get("total", 0) for d in days] + [1])
    bars = []
    for i, day in enumerate(days):
        total = per_day.get(day, {}).get("total", 0)
        positive = per_day.get(day, {}).get("positive", 0)
        height = round(CHART_HEIGHT * total / peak)
        positive_height = round(CHART_HEIGHT * positive / peak)
        bars.append(
            {
                "x": i * (BAR_WIDTH + 6),
                "y": CHART_HEIGHT - height,
                "height": height,
                "positive_y": CHART_HEIGHT - positive_height,
                "positive_height": positive_height,
                "label": day.strftime("%d"),
                "title": f"{day:%Y-%m-%d}: {total} studies, {positive} positive",
            }
        )
    counts["chart"] = {"bars": bars, "width": CHART_DAYS * (BAR_WIDTH + 6), "height": CHART_HEIGHT, "bar_width": BAR_WIDTH}
    return counts
