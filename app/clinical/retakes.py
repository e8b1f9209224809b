"""Films that need taking again: a radiologist read them as "Not assessable", or the quality
gate refused them (and nobody analysed them anyway). They wait on the radiographers' home page,
with the reason, until a radiographer marks the retake done."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import prefetch_related_objects

from app.clinical.models import NOT_ASSESSABLE, AnalysisStatus, Study

SHOWN = 50


@dataclass
class Retake:
    study: Study
    reason: str
    asked_by: str  # who or what asked for it: a radiologist's name, or "quality gate"


def retakes_needed(limit: int = SHOWN) -> list[Retake]:
    # Two small queries, each served by an index (the not-assessable partial index, the analyses'
    # status index), rather than one OR that read every study in upload order.
    waiting = Study.objects.not_voided().filter(retake_done_at__isnull=True).select_related("patient", "latest_analysis").order_by("-uploaded_at")
    unreadable = list(waiting.filter(final_finding=NOT_ASSESSABLE)[:limit])
    refused = list(waiting.filter(reviewed=False, latest_analysis__status=AnalysisStatus.REFUSED, latest_analysis__gate_override_at__isnull=True)[:limit])
    studies = sorted({s.pk: s for s in unreadable + refused}.values(), key=lambda s: s.uploaded_at, reverse=True)[:limit]
    prefetch_related_objects(studies, "reviews__reviewer")
    retakes = []
    for study in studies:
        review = next(iter(study.reviews.all()), None)
        if study.final_finding == NOT_ASSESSABLE and review is not None:
            reason = review.detail or review.note
            retakes.append(Retake(study, reason, review.reviewer.get_full_name() or review.reviewer.get_username()))
        else:
            retakes.append(Retake(study, study.latest_analysis.message if study.latest_analysis else "", "quality gate"))
    return retakes
