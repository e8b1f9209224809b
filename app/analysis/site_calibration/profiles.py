"""Site profiles in the database: propose one from this clinic's signed reads, import one from a
file, activate it (audited; the worker applies it to every later analysis), retire them all.
A profile never changes a signed read or an old result: it acts on analyses made after it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from app.analysis.site_calibration import fitting
from app.analysis.site_calibration.models import SiteProfileRecord
from app.audit import trail as audit
from app.clinical.models import NOT_ASSESSABLE, OTHER_ABNORMALITY, Review
from app.inference.site_profile import SiteProfile, SiteProfileError


@dataclass
class SignedRead:
    study_id: int
    probabilities: list[float]  # the pack's own, in the pack's class order
    truth: str  # the read that stands
    ai_finding: str  # what the result said (under whatever profile it had then)
    familiarity: float | None


def signed_reads(pack_name: str, pack_version: str, classes: tuple[str, ...]) -> list[SignedRead]:
    """Every signed study (not voided, not "Not assessable") whose read analysis came from this
    pack, with the pack's own probabilities (read through the typed result) and the read that stands."""
    reviews = Review.objects.filter(study__voided_at__isnull=True, analysis__pack_name=pack_name, analysis__pack_version=pack_version).select_related("analysis").order_by("study_id", "signed_at", "id")
    latest: dict[int, Review] = {}
    original: dict[int, Review] = {}
    for review in reviews:
        latest[review.study_id] = review
        if review.amends_id is None:
            original.setdefault(review.study_id, review)
    reads = []
    for study_id, first in original.items():
        truth = latest[study_id].finding
        outcome = first.analysis.outcome if first.analysis else None
        if truth == NOT_ASSESSABLE or outcome is None or not outcome.analysed or tuple(outcome.classes) != tuple(classes):
            continue
        if truth not in classes and truth != OTHER_ABNORMALITY:
            continue
        probabilities = outcome.pack_probabilities
        reads.append(SignedRead(study_id, [probabilities[c] for c in classes], truth, outcome.consensus.finding, outcome.familiarity_distance))
    return reads


def next_version(pack_name: str, pack_version: str) -> int:
    current = SiteProfileRecord.objects.filter(pack_name=pack_name, pack_version=pack_version).aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


def propose(pack, target: str, sensitivity: float, user: AbstractBaseUser) -> tuple[SiteProfileRecord, list[SignedRead]]:  # noqa: ANN001  (a ModelPack)
    """Fit on the signed reads and keep the proposal as an inactive record; raises
    fitting.NotEnoughReads with the counts when there are too few."""
    reads = signed_reads(pack.name, pack.version, pack.classes)
    version = next_version(pack.name, pack.version)
    threshold = pack.familiarity.threshold if pack.familiarity is not None else None
    proposal = fitting.propose(
        np.array([r.probabilities for r in reads]) if reads else np.zeros((0, len(pack.classes))), [r.truth for r in reads], list(pack.classes),
        target, sensitivity, pack_name=pack.name, pack_version=pack.version, name="site profile", version=version,
        familiarity_distances=[r.familiarity for r in reads if r.familiarity is not None], pack_familiarity_threshold=threshold,
    )
    data = proposal.profile.to_dict()
    data["evidence"]["changed_studies"] = [reads[i].study_id for i in proposal.changed][:500]
    record = SiteProfileRecord.objects.create(pack_name=pack.name, pack_version=pack.version, version=version, profile=data, source="fitted", created_by=user)
    audit.record(user, audit.CREATED, record, f"Site profile v{version} proposed for {pack.name} {pack.version}: {target} sensitivity ≥ {sensitivity:.0%} "
                 f"on {proposal.counts['reads']} signed reads")
    return record, reads


def import_file(content: bytes, user: AbstractBaseUser | None, pack) -> SiteProfileRecord:  # noqa: ANN001
    """A profile fitted elsewhere (the command line), checked against the pack it names."""
    import json

    try:
        profile = SiteProfile.from_dict(json.loads(content.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SiteProfileError(f"Not a site profile file ({exc}).") from exc
    profile.check_pack(pack.name, pack.version, pack.classes)
    version = next_version(pack.name, pack.version)
    data = profile.to_dict() | {"version": version}
    record = SiteProfileRecord.objects.create(pack_name=pack.name, pack_version=pack.version, version=version, profile=data, source="imported", created_by=user)
    audit.record(user, audit.CREATED, record, f"Site profile v{version} imported for {pack.name} {pack.version} (target {profile.target})")
    return record


def activate(record: SiteProfileRecord, user: AbstractBaseUser | None) -> None:
    SiteProfile.from_dict(record.profile)  # loud: a damaged record is never activated
    with transaction.atomic():
        SiteProfileRecord.objects.filter(pack_name=record.pack_name, pack_version=record.pack_version, active=True).update(active=False, retired_at=timezone.now())
        SiteProfileRecord.objects.filter(pk=record.pk).update(active=True, activated_at=timezone.now(), retired_at=None)
        audit.record(user, audit.CHANGED, record, f"Site profile v{record.version} activated for {record.pack_name} {record.pack_version}")


def retire_all(pack_name: str, pack_version: str, user: AbstractBaseUser | None) -> int:
    """Back to the pack's own findings."""
    with transaction.atomic():
        n = SiteProfileRecord.objects.filter(pack_name=pack_name, pack_version=pack_version, active=True).update(active=False, retired_at=timezone.now())
        if n:
            audit.record(user, audit.CHANGED, None, f"Site profiles switched off for {pack_name} {pack_version}: the pack's own findings from now on")
    return n


def active_record(pack_name: str, pack_version: str) -> SiteProfileRecord | None:
    return SiteProfileRecord.objects.filter(pack_name=pack_name, pack_version=pack_version, active=True).first()


def active_profile(pack_name: str, pack_version: str) -> SiteProfile | None:
    record = active_record(pack_name, pack_version)
    return SiteProfile.from_dict(record.profile) if record else None
