"""The radiologist's read of a study: signing it once, and amending it later with a labelled
addendum that never changes the original. The study keeps its signed read (final_finding) for
the worklist, exports and statistics."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from app.audit import trail as audit
from app.clinical.models import NOT_ASSESSABLE, OTHER_ABNORMALITY, Analysis, Review, Study, refresh_worklist_priority

# Beyond the pack's classes, in this order after them.
EXTRA_FINDINGS = (OTHER_ABNORMALITY, NOT_ASSESSABLE)


class ReadError(Exception):
    """Readable reason a read was not signed."""


def finding_choices(classes: list[str]) -> list[str]:
    return [*classes, *(f for f in EXTRA_FINDINGS if f not in classes)]


def current_read(study: Study) -> Review | None:
    """The read that stands: the newest addendum, else the original."""
    return study.reviews.select_related("reviewer").first()


def sign(study: Study, analysis: Analysis, reviewer: AbstractBaseUser, *, finding: str, detail: str = "", note: str = "",
         amends: Review | None = None) -> Review:
    """Sign the first read of a study, or (with `amends`) an addendum to its signed read."""
    with transaction.atomic():
        # Locks the row on PostgreSQL; on SQLite the write transaction itself serialises signers.
        locked = Study.objects.select_for_update().get(pk=study.pk)
        original = locked.reviews.filter(amends=None).select_related("reviewer").first()
        if amends is None and original is not None:
            who = original.reviewer.get_full_name() or original.reviewer.get_username()
            raise ReadError(f"This study was already signed by {who} at {timezone.localtime(original.signed_at):%H:%M}; use Amend to add an addendum.")
        if amends is not None and original is None:
            raise ReadError("There is no signed read to amend yet.")
        review = Review.objects.create(
            study=locked, analysis=analysis, reviewer=reviewer, ai_finding=analysis.finding, finding=finding, detail=detail, note=note,
            agrees_with_ai=finding == analysis.finding, signed_at=timezone.now(), amends=original if amends is not None else None,
        )
        changes: dict[str, object] = {"reviewed": True, "final_finding": finding, "final_agrees": review.agrees_with_ai}
        if finding == NOT_ASSESSABLE:
            changes["retake_done_at"] = None  # back on the radiographers' Retake list
        Study.objects.filter(pk=study.pk).update(**changes)
        refresh_worklist_priority(Study.objects.filter(pk=study.pk))
        said = review.finding_text
        if amends is not None:
            audit.record(reviewer, audit.AMENDED, locked, f"Study {study.pk}: addendum signed, now {said} (was {amends.finding_text})",
                         review_id=review.id, amends_id=original.id, note=note)
        else:
            verb = "confirmed" if review.agrees_with_ai else f"overrode {analysis.finding} with"
            audit.record(reviewer, audit.REVIEWED, locked, f"Study {study.pk}: reviewer {verb} {said}", review_id=review.id, note=note)
    return review
