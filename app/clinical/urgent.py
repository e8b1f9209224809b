"""Urgent findings: unreviewed AI positives that a radiologist should see first, announced on
every page (banner, count, desktop notification) until someone signs them. The administrator
chooses which findings and from what confidence (Clinic settings)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import HttpRequest

from app.clinical.models import AnalysisStatus, Study
from app.core.models import ClinicSettings
from app.core.roles import RADIOLOGIST, has_role

DEFAULT_MIN_CONFIDENCE = 0.5
# The banner counts up to here and then says "99+": it must cost the same with any backlog.
COUNT_CAP = 99


def urgent_filter() -> Q:
    clinic = ClinicSettings.current()
    findings = [line.strip() for line in (clinic.urgent_findings if clinic else "").splitlines() if line.strip()]
    threshold = clinic.urgent_min_confidence if clinic else DEFAULT_MIN_CONFIDENCE
    rule = Q(reviewed=False, latest_analysis__status=AnalysisStatus.ANALYSED, latest_analysis__positive=True,
             latest_analysis__confidence__gte=threshold)
    return rule & Q(latest_analysis__finding__in=findings) if findings else rule


def urgent_count() -> tuple[int, bool]:
    """(count, more than COUNT_CAP)."""
    n = len(Study.objects.not_voided().filter(urgent_filter()).values_list("pk", flat=True)[: COUNT_CAP + 1])
    return min(n, COUNT_CAP), n > COUNT_CAP


def urgent_banner(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the count for radiologists' whole pages (base.html shows the banner).
    Not for htmx fragments (an analysis's status, polled every second): they have no banner, and
    the banner refreshes itself (views/urgent.py)."""
    if request.headers.get("HX-Request") or not request.user.is_authenticated or not has_role(request.user, RADIOLOGIST):
        return {}
    return banner_context()


def banner_context() -> dict[str, Any]:
    count, more = urgent_count()
    return {"urgent": {"count": count, "more": more}}
