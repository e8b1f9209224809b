"""The statistics page's numbers, from this clinic's signed reads: the AI's finding against the
radiologist's, per pack and period, plus turnaround, workload, voided and not-assessable counts.

The AI side is read through the typed result (app/analysis/result.py) of the analysis the
radiologist actually read (Review.analysis), not the study's latest; the radiologist's side is the
read that stands (the newest addendum, else the original), timed from the original signature."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from app.clinical.models import NOT_ASSESSABLE, OTHER_ABNORMALITY, Review, Study
from app.statistics import measures

PERIODS = {"week": 7, "month": 30, "quarter": 91, "year": 365}


@dataclass
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        return (datetime.combine(self.start, datetime.min.time(), tz), datetime.combine(self.end + timedelta(days=1), datetime.min.time(), tz))


def period_from(params: dict[str, str]) -> tuple[Period, list[str]]:
    """The period the page shows: a named one (last 7, 30, 91, 365 days) or chosen dates."""
    today = timezone.localdate()
    errors = []
    if params.get("from") or params.get("to"):
        try:
            start = date.fromisoformat(params.get("from") or "2000-01-01")
            end = date.fromisoformat(params.get("to") or today.isoformat())
            if start <= end:
                return Period(start, end), errors
            errors.append("The start date is after the end date; the last 30 days are shown.")
        except ValueError:
            errors.append("Dates are written YYYY-MM-DD; the last 30 days are shown.")
    days = PERIODS.get(params.get("period", ""), PERIODS["month"])
    return Period(today - timedelta(days=days - 1), today), errors


@dataclass
class Read:
    """One signed study: what the AI said (the analysis read) and what stands now."""

    study_id: int
    ai_finding: str
    radiologist: str
    needs_review: bool
    received: datetime
    analysed: datetime | None
    signed: datetime  # the original signature (turnaround), whatever addenda came later
    reviewer: str


@dataclass
class PackStatistics:
    pack: str
    classes: list[str]
    reads: list[Read] = field(default_factory=list)

    @property
    def rows(self) -> list[str]:
        """The confusion matrix's rows: the pack's classes, then "Other abnormality" (which the AI
        cannot call, but whose films it may wrongly call something)."""
        return [*self.classes, OTHER_ABNORMALITY]

    def pairs(self) -> list[tuple[str, str]]:
        return [(r.radiologist, r.ai_finding) for r in self.reads if r.radiologist != NOT_ASSESSABLE]


def signed_reads(period: Period) -> dict[str, PackStatistics]:
    """Every study first signed in the period (not voided), grouped by the pack that made the AI
    finding read; each with the read that stands now."""
    start, end = period.bounds()
    originals = (
        Review.objects.filter(amends=None, signed_at__gte=start, signed_at__lt=end, study__voided_at__isnull=True)
        .select_related("analysis", "study", "reviewer")
        .order_by("signed_at")
    )
    standing = dict(
        Review.objects.filter(study__in=originals.values("study")).order_by("study_id", "signed_at", "id").values_list("study_id", "finding")
    )  # the last value per study wins: the newest read
    packs: dict[str, PackStatistics] = {}
    for review in originals:
        outcome = review.analysis.outcome if review.analysis else None
        if outcome is None or not outcome.analysed:
            continue
        label = outcome.pack.label
        stats = packs.setdefault(label, PackStatistics(label, list(outcome.classes)))
        stats.reads.append(Read(
            study_id=review.study_id, ai_finding=outcome.consensus.finding, radiologist=standing.get(review.study_id, review.finding),
            needs_review=outcome.consensus.needs_review, received=review.study.uploaded_at, analysed=review.analysis.finished_at,
            signed=review.signed_at, reviewer=review.reviewer.get_full_name() or review.reviewer.get_username(),
        ))
    return packs


def agreement(stats: PackStatistics) -> dict[str, object]:
    rows = stats.rows
    pairs = stats.pairs()
    matrix = measures.confusion(pairs, rows)
    read = [r for r in stats.reads if r.radiologist != NOT_ASSESSABLE]
    overrides = [r for r in read if r.radiologist != r.ai_finding]
    flagged = [r for r in read if r.needs_review]
    # kappa over the pack's classes only: "Other abnormality" has no AI column to agree with.
    square = [row[: len(stats.classes)] for row in matrix[: len(stats.classes)]]
    return {
        "rows": rows, "columns": stats.classes, "matrix": [row[: len(stats.classes)] for row in matrix],
        "classes": measures.per_class(matrix, rows)[: len(stats.classes)],
        "kappa": measures.cohen_kappa(square), "kappa_n": sum(map(sum, square)),
        "read": len(read), "not_assessable": len(stats.reads) - len(read),
        "override_rate": measures.Proportion(len(overrides), len(read)),
        "needs_review_rate": measures.Proportion(len(flagged), len(read)),
        # Of the reads where the radiologist disagreed, how many the AI itself had flagged.
        "flag_caught_overrides": measures.Proportion(sum(r.needs_review for r in overrides), len(overrides)),
    }


def turnaround(stats: PackStatistics) -> list[dict[str, object]]:
    """Minutes from received to analysed, analysed to signed, received to signed: median and 90th."""
    spans = {
        "received → analysed": [(r.analysed - r.received).total_seconds() / 60 for r in stats.reads if r.analysed],
        "analysed → signed": [(r.signed - r.analysed).total_seconds() / 60 for r in stats.reads if r.analysed],
        "received → signed": [(r.signed - r.received).total_seconds() / 60 for r in stats.reads],
    }
    labels = {"received → analysed": _("received → analysed"), "analysed → signed": _("analysed → signed"), "received → signed": _("received → signed")}
    return [{"span": span, "label": labels[span], "n": len(values), "median": measures.percentile(values, 50), "p90": measures.percentile(values, 90)}
            for span, values in spans.items()]


def workload(period: Period) -> dict[str, object]:
    """Films received per day and per radiographer, reads per radiologist, voided and
    not-assessable counts.

    Counted as index ranges (per day on the upload-time index, per person on the uploader's
    index), minus the few voided studies (their own partial index): grouping the period's rows by
    a computed day read every study of the period (330 ms for 100,000 in a month)."""
    start, end = period.bounds()
    in_period = Q(uploaded_at__gte=start, uploaded_at__lt=end)
    voided = list(Study.objects.filter(in_period, voided_at__isnull=False).values_list("uploaded_at", "uploaded_by__username", "reviewed"))
    voided_per_day = Counter(timezone.localtime(at).date() for at, _user, _reviewed in voided)
    per_day = []
    for day in period.days:
        lower, upper = Period(day, day).bounds()
        per_day.append({"day": day, "films": Study.objects.filter(uploaded_at__gte=lower, uploaded_at__lt=upper).count() - voided_per_day[day]})
    voided_per_user = Counter(user for _at, user, _reviewed in voided)
    uploads = {}
    for user_id, username in User.objects.values_list("pk", "username"):
        n = Study.objects.filter(in_period, uploaded_by_id=user_id).count() - voided_per_user[username]
        if n:
            uploads[username] = n
    by_receiver = Study.objects.filter(in_period, uploaded_by=None).count() - voided_per_user[None]
    if by_receiver:
        uploads[""] = by_receiver  # the DICOM receiver: no person uploaded these
    readers = Counter(dict(
        Review.objects.filter(amends=None, signed_at__gte=start, signed_at__lt=end, study__voided_at__isnull=True)
        .values_list("reviewer__username").annotate(n=Count("id")).values_list("reviewer__username", "n")
    ))
    not_assessable = Study.objects.filter(voided_at__isnull=True, final_finding=NOT_ASSESSABLE).filter(
        pk__in=Review.objects.filter(signed_at__gte=start, signed_at__lt=end).values("study")).count()
    return {
        "per_day": per_day,
        "uploads": sorted(uploads.items(), key=lambda kv: (-kv[1], kv[0])),
        "reads": sorted(readers.items(), key=lambda kv: (-kv[1], kv[0] or "")),
        "received": sum(d["films"] for d in per_day),
        "voided": len(voided),
        "not_assessable": not_assessable,
        "unread": Study.objects.filter(in_period, reviewed=False).count() - sum(not reviewed for _at, _user, reviewed in voided),
    }


def default_pack(packs: dict[str, PackStatistics]) -> str | None:
    """The pack with the most signed reads in the period (usually the active one)."""
    return max(packs, key=lambda label: len(packs[label].reads)) if packs else None


def per_reviewer(stats: PackStatistics) -> list[dict[str, object]]:
    by: dict[str, list[Read]] = defaultdict(list)
    for r in stats.reads:
        by[r.reviewer].append(r)
    return [{"reviewer": name, "reads": len(reads), "overrides": sum(r.radiologist != r.ai_finding for r in reads if r.radiologist != NOT_ASSESSABLE)}
            for name, reads in sorted(by.items())]

