"""Uploads become studies: ordered steps, temporary files always cleaned up, nothing half-written.

    1. stream the upload into a private temporary file inside the data directory, hashing it
    2. the same file (sha256) already stored?  -> report the existing study, store nothing
    3. read it by content (PNG, JPEG, DICOM); unreadable -> refuse with the reader's reason
    4. choose the patient: the one given, else from the DICOM tags (found or created)
    5. move the file into place atomically, named by its sha256
    6. one transaction: study + analysis + queued job
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from app.platform import disk_full
from app.audit import trail as audit
from app.clinical.models import Analysis, Patient, Sex, Study, find_patient, refresh_worklist_priority, validate_patient_id
from app.inference.errors import InputError
from app.inference.io.files import load_image
from app.jobs import queue
from app.jobs.models import Priority

ANALYSE_STUDY = "clinical.analyse_study"
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "dicom": ".dcm"}


class IntakeError(Exception):
    """Readable reason an upload was not stored."""


@dataclass
class IntakeResult:
    study: Study
    duplicate: bool
    created_patient: bool = False


def _parse_dicom_date(value: str) -> date | None:
    try:
        return datetime.strptime(value[:8], "%Y%m%d").date()
    except (ValueError, TypeError):
        return None


def _patient_from_tags(tags: dict[str, str], user, fallback_id: str = "") -> tuple[Patient, bool]:  # noqa: ANN001
    patient_id = tags.get("patient_id", "").strip() or fallback_id
    if not patient_id:
        raise IntakeError(gettext("This file carries no patient ID. Choose the patient before uploading it."))
    try:
        validate_patient_id(patient_id)
    except ValidationError as exc:
        raise IntakeError(f"{exc.messages[0]} " + gettext("Choose the patient explicitly and upload again.")) from None
    existing = find_patient(patient_id)  # a merged record's old ID finds the record it joined
    if existing:
        dicom_name = tags.get("patient_name", "").strip()
        if dicom_name and existing.full_name and dicom_name.casefold() != existing.full_name.casefold():
            # Never merge silently: the user must say this file belongs to that patient.
            raise IntakeError(
                gettext(
                    "Patient ID %(id)s is registered as “%(registered)s”, but this file says “%(file)s”. "
                    "If it is the same person, choose the patient explicitly and upload again."
                ) % {"id": patient_id, "registered": existing.full_name, "file": dicom_name}
            )
        return existing, False
    age = tags.get("patient_age", "")
    try:
        with transaction.atomic():  # a simultaneous upload may create the same patient
            patient = Patient.objects.create(
                patient_id=patient_id,
                full_name=tags.get("patient_name", ""),
                sex=tags.get("patient_sex", "U")[:1] if tags.get("patient_sex", "U")[:1] in Sex.values else Sex.UNKNOWN,
                birth_date=_parse_dicom_date(tags.get("patient_birth_date", "")),
                age_years=int(age.rstrip("Y")) if age.rstrip("Y").isdigit() else None,
                created_by=user,
            )
    except IntegrityError:
        return Patient.objects.get(patient_id=patient_id), False
    audit.record(user, audit.CREATED, patient, f"Patient {patient_id} created from {'DICOM tags' if tags.get('patient_id') else 'the file name'}")
    return patient, True


def queue_analysis(
    study: Study, *, gate_override_by=None, gate_override_reason: str = "", priority: int = Priority.NORMAL,  # noqa: ANN001
    compare_with: tuple[str, str] | None = None,
) -> Analysis:
    """A new analysis of the study, queued. With gate_override_by, the quality gate's refusal is
    overruled by that person for the stated reason (see Engine.analyse_image). With compare_with
    (pack name, version), that installed pack gives a second opinion shown beside the study's own
    result, which stays the study's result."""
    override = gate_override_by is not None
    analysis = Analysis.objects.create(
        study=study,
        gate_override_by=gate_override_by,
        gate_override_reason=gate_override_reason if override else "",
        gate_override_at=timezone.now() if override else None,
        compared_pack="@".join(compare_with) if compare_with else "",
    )
    payload: dict[str, object] = {"analysis_id": analysis.id, "override_gate": override}
    if compare_with:
        payload["pack"] = {"name": compare_with[0], "version": compare_with[1]}
    analysis.job = queue.enqueue(ANALYSE_STUDY, payload, priority=priority)
    analysis.save(update_fields=["job"])
    if not compare_with:
        Study.objects.filter(id=study.id).update(latest_analysis=analysis)
        refresh_worklist_priority(Study.objects.filter(id=study.id))
        study.latest_analysis = analysis
    return analysis


def intake(
    upload: UploadedFile | File, user, patient: Patient | None, *, patient_from_name: bool = False, priority: int = Priority.NORMAL,  # noqa: ANN001
    study_date: date | None = None,
) -> IntakeResult:
    """`patient_from_name`: files without a patient (PNG, JPEG) belong to the patient whose ID is
    the file name without extension (screening-day convention: RFC-0042.png), created if new.
    `priority`: of the analysis job (a folder import's films queue as bulk, behind uploads).
    `study_date`: the day the film was taken, when the person uploading says so; a DICOM file's
    own Study Date wins, and without either it is the day the film was received."""
    incoming = settings.DATA_DIR.originals / f".incoming-{uuid.uuid4().hex}"
    try:
        disk_full.ensure_room(settings.DATA_DIR.originals, upload.size or 0)
        digest = hashlib.sha256()
        with incoming.open("wb") as handle:
            for chunk in upload.chunks():
                digest.update(chunk)
                handle.write(chunk)
        sha256 = digest.hexdigest()
        existing = Study.objects.filter(sha256=sha256).select_related("patient").first()
        if existing:
            return IntakeResult(existing, duplicate=True)
        try:
            image = load_image(incoming)
        except InputError as exc:
            raise IntakeError(str(exc)) from exc

        with transaction.atomic():
            created_patient = False
            if patient is None:
                fallback = Path(upload.name or "").stem[:64] if patient_from_name else ""
                patient, created_patient = _patient_from_tags(image.metadata, user, fallback)
            stored_name = sha256 + EXTENSIONS[image.source_format]
            target = settings.DATA_DIR.originals / stored_name
            os.replace(incoming, target)
            try:
                # A savepoint of its own: if the same file was stored by a simultaneous upload, only
                # this insert is rolled back and the lookup below still runs in a usable transaction.
                with transaction.atomic():
                    study = Study.objects.create(
                        patient=patient,
                        sha256=sha256,
                        original_name=Path(upload.name or "upload").name[:255],
                        stored_name=stored_name,
                        file_format=image.source_format,
                        size_bytes=target.stat().st_size,
                        width=image.width,
                        height=image.height,
                        dicom=image.metadata,
                        study_date=_parse_dicom_date(image.metadata.get("study_date", "")) or study_date or date.today(),
                        accession_number=image.metadata.get("accession_number", "")[:64],
                        uploaded_by=user,
                    )
            except IntegrityError:
                # The same file arrived twice at once; the other upload stored it.
                existing = Study.objects.get(sha256=sha256)
                return IntakeResult(existing, duplicate=True)
            queue_analysis(study, priority=priority)
            audit.record(user, audit.CREATED, study, f"Radiograph {study.original_name} uploaded for patient {patient.patient_id}", sha256=sha256)
        return IntakeResult(study, duplicate=False, created_patient=created_patient)
    finally:
        incoming.unlink(missing_ok=True)
