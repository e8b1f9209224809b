"""Retention: remove studies older than the clinic keeps them, with their files, after confirmation.

A study counts as backed up when a good backup was made after it was uploaded. Studies that were
never backed up are kept unless the administrator explicitly includes them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from app.platform import faults
from app.audit import trail as audit
from app.clinical.models import Study
from app.core.models import ClinicSettings


@dataclass
class RetentionPlan:
    days: int | None
    expired: int
    backed_up: int
    never_backed_up: int


def expired_studies(clinic: ClinicSettings) -> QuerySet[Study]:
    if not clinic.retention_days:
        return Study.objects.none()
    return Study.objects.filter(uploaded_at__lt=timezone.now() - timedelta(days=clinic.retention_days))


def _backed_up(studies: QuerySet[Study], clinic: ClinicSettings) -> QuerySet[Study]:
    if clinic.last_backup_at is None:
        return studies.none()
    return studies.filter(uploaded_at__lte=clinic.last_backup_at)


def plan(clinic: ClinicSettings) -> RetentionPlan:
    expired = expired_studies(clinic)
    backed = _backed_up(expired, clinic).count()
    total = expired.count()
    return RetentionPlan(clinic.retention_days, total, backed, total - backed)


def apply(clinic: ClinicSettings, user, *, include_never_backed_up: bool) -> int:  # noqa: ANN001
    studies = expired_studies(clinic)
    if not include_never_backed_up:
        studies = _backed_up(studies, clinic)
    removed = 0
    for study in studies.select_related("patient").iterator():
        files = [study.path, settings.DATA_DIR.derived / f"study-{study.pk}"]
        with transaction.atomic():
            audit.record(user, audit.DELETED, study, f"Study {study.pk} of patient {study.patient.patient_id} removed by retention ({clinic.retention_days} days)", sha256=study.sha256, uploaded_at=study.uploaded_at.isoformat())
            study.delete()
        faults.point("retention-row-deleted")  # the row is gone, its files not yet
        # Files go only after the row is gone: a crash in between leaves a file without a row
        # (harmless, reclaimed by the next run) rather than a row without its image.
        for path in files:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        removed += 1
    return removed
