"""Numbers for the start page: today, this week, pending reviews, speed, and a 14-day chart.
Voided studies (entered in error, wrong film, test) count nowhere."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django.utils import timezone

from app.clinical.models import Analysis, AnalysisStatus, Study

CHART_DAYS = 14
# Counts that can grow with the archive stop here; the page then shows "999+".
COUNT_CAP = 999
CHART_HEIGHT = 120
BAR_WIDTH = 22


def summary() -> dict[str, Any]:
    """Every number reads only the last two weeks of studies (one pass over an index range), or
    stops counting at a cap, so the page costs the same with 10,000 or 1,000,000 studies stored."""
    now = timezone.localtime()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    start = today - timedelta(days=CHART_DAYS - 1)
    is_positive = Q(latest_analysis__positive=True)
    columns: dict[str, Count] = {
        "today": Count("id", filter=Q(uploaded_at__gte=today)),
        "week": Count("id", filter=Q(uploaded_at__gte=week)),
        "positives_today": Count("id", filter=Q(uploaded_at__gte=today) & is_positive),
        "positives_week": Count("id", filter=Q(uploaded_at__gte=week) & is_positive),
    }
    for i in range(CHART_DAYS):
        day = Q(uploaded_at__gte=start + timedelta(days=i), uploaded_at__lt=start + timedelta(days=i + 1))
        columns[f"total_{i}"] = Count("id", filter=day)
        columns[f"positive_{i}"] = Count("id", filter=day & is_positive)
    # Voided studies count nowhere: their few rows (a partial index) are counted apart and taken
    # off, since a condition on every row of the window made the one big count 35% slower.
    in_window = Study.objects.filter(uploaded_at__gte=min(week, start))
    everything = in_window.aggregate(**columns)
    voided = in_window.filter(voided_at__isnull=False).aggregate(**columns)
    window = {key: everything[key] - voided[key] for key in everything}
    counts: dict[str, Any] = {k: window[k] for k in ("today", "week", "positives_today", "positives_week")}
    counts["pending_review"], counts["pending_review_more"] = capped_count(
        Study.objects.not_voided().filter(reviewed=False, latest_analysis__status=AnalysisStatus.ANALYSED))
    counts["waiting"], counts["waiting_more"] = capped_count(Analysis.objects.filter(status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]))
    counts["average_seconds"] = Analysis.objects.filter(finished_at__gte=week, seconds__isnull=False).aggregate(v=Avg("seconds"))["v"]
    per_day = {(start + timedelta(days=i)).date(): {"total": window[f"total_{i}"], "positive": window[f"positive_{i}"]} for i in range(CHART_DAYS)}
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


def capped_count(queryset: QuerySet) -> tuple[int, bool]:
    """(count, more): counts at most COUNT_CAP rows, so a backlog of 300,000 costs what 999 does."""
    n = len(queryset.values_list("pk", flat=True)[: COUNT_CAP + 1])
    return min(n, COUNT_CAP), n > COUNT_CAP
