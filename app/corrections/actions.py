"""Putting everyday mistakes right without destroying anything: a study moved to the right
patient, a study voided (and restored), two records of one person merged. Each correction is
one transaction and one audit event saying who, when and why.

It sits above the clinical records it corrects (it imports them; they never import it)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from app.audit import trail as audit
from app.clinical.models import Patient, Study, VoidReason, refresh_worklist_priority


class CorrectionError(Exception):
    """Readable reason a correction was not made."""


def move_study(study: Study, to: Patient, user: AbstractBaseUser, reason: str) -> Study:
    """The study (its film, analyses, reviews; its PDF and DICOM exports from now on) belongs
    to `to` instead. Results already sent to a PACS carry the old patient: the audit says so."""
    to = to.resolved()
    with transaction.atomic():
        study = Study.objects.select_for_update().select_related("patient").get(pk=study.pk)
        before = study.patient
        if before.pk == to.pk:
            raise CorrectionError(f"Study {study.pk} already belongs to patient {to.patient_id}.")
        Study.objects.filter(pk=study.pk).update(patient=to)
        audit.record(user, audit.MOVED, study, f"Study {study.pk} moved from patient {before.patient_id} to {to.patient_id}: {reason}",
                     from_patient=before.patient_id, to_patient=to.patient_id, reason=reason)
    study.patient = to
    return study


def void_study(study: Study, user: AbstractBaseUser, reason: str, note: str = "") -> None:
    if reason not in VoidReason.values:
        raise CorrectionError("Choose why the study is voided.")
    with transaction.atomic():
        if not Study.objects.filter(pk=study.pk, voided_at__isnull=True).update(voided_at=timezone.now(), voided_by=user, void_reason=reason, void_note=note):
            raise CorrectionError(f"Study {study.pk} is already voided.")
        label = VoidReason(reason).label
        audit.record(user, audit.VOIDED, study, f"Study {study.pk} of patient {study.patient.patient_id} voided: {label}" + (f" ({note})" if note else ""),
                     reason=reason, note=note)


def restore_study(study: Study, user: AbstractBaseUser, note: str = "") -> None:
    with transaction.atomic():
        if not Study.objects.filter(pk=study.pk).exclude(voided_at=None).update(voided_at=None, voided_by=None, void_reason="", void_note=""):
            raise CorrectionError(f"Study {study.pk} is not voided.")
        refresh_worklist_priority(Study.objects.filter(pk=study.pk))
        audit.record(user, audit.RESTORED, study, f"Study {study.pk} of patient {study.patient.patient_id} restored" + (f": {note}" if note else ""),
                     voided_reason=study.void_reason, voided_note=study.void_note, note=note)


def merge_patients(duplicate: Patient, keep: Patient, user: AbstractBaseUser, reason: str) -> int:
    """Two records of one person become one: the duplicate's studies move to `keep`, the
    duplicate is kept (marked merged) so its ID still finds the person. Returns the studies moved."""
    with transaction.atomic():
        duplicate = Patient.objects.select_for_update().get(pk=duplicate.pk)
        keep = Patient.objects.get(pk=keep.pk)
        if duplicate.pk == keep.pk:
            raise CorrectionError("Choose two different patient records.")
        if duplicate.merged_into_id is not None:
            raise CorrectionError(f"Patient {duplicate.patient_id} was already merged into another record.")
        if keep.merged_into_id is not None:
            raise CorrectionError(f"Patient {keep.patient_id} was itself merged into {keep.resolved().patient_id}; merge into that record.")
        study_ids = list(duplicate.studies.values_list("pk", flat=True))
        Study.objects.filter(pk__in=study_ids).update(patient=keep)
        Patient.objects.filter(pk=duplicate.pk).update(merged_into=keep, merged_at=timezone.now())
        Patient.objects.filter(merged_into=duplicate).update(merged_into=keep)
        summary = f"Patient {duplicate.patient_id} merged into {keep.patient_id} ({len(study_ids)} studies moved): {reason}"
        detail = {"duplicate": duplicate.patient_id, "kept": keep.patient_id, "studies": study_ids, "reason": reason}
        audit.record(user, audit.MERGED, keep, summary, **detail)
        audit.record(user, audit.MERGED, duplicate, summary, **detail)
        for study_id in study_ids:
            audit.record(user, audit.MOVED, Study(pk=study_id), f"Study {study_id} moved from patient {duplicate.patient_id} to {keep.patient_id} by a merge",
                         from_patient=duplicate.patient_id, to_patient=keep.patient_id, reason=reason)
    return len(study_ids)
