"""Import a whole folder (a screening session): one row per file, so a restart resumes it.

    1. the worker lists the folder and plans each file's patient (the one chosen, the DICOM
       tags', or the one whose ID is the file name), saying which records would be new
    2. a person sees that preview and confirms it, choosing where files whose name is not a
       known patient ID go (new records, or one chosen patient)
    3. the worker stores the files in order of arrival (modification time, then name) through
       the same intake as an upload: duplicates skipped and reported, unreadable files listed
       with the reason, analyses queued in the same order
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from app.platform import disk_full, faults
from app.platform.removable_media import removable_mounts
from app.clinical.intake import IntakeError, intake
from app.clinical.models import ImportBatch, ImportItem, ImportItemStatus, Patient, find_patient
from app.core.models import ClinicSettings
from app.inference.io.files import DICOM_MAGIC_OFFSET, sniff
from app.jobs import queue
from app.jobs.models import Job, Priority
from app.jobs.registry import register, register_failure_hook
from app.jobs.worker import JobContext, JobError

BATCH_IMPORT = "clinical.batch_import"
# Not images: system clutter, and DICOMDIR, a CD's index of the DICOM files beside it (the files
# themselves are found by walking the folder, so a CD with or without a DICOMDIR imports the same).
SKIP_NAMES = {"thumbs.db", "desktop.ini", ".ds_store", "dicomdir"}
# Where a folder import may read without an administrator's say-so: removable media that are
# mounted now (app/platform/removable_media.py), not every folder under /mnt or /media.
REMOVABLE_MEDIA = ("/media", "/run/media", "/mnt", "/Volumes")
MAX_PATH_CHARACTERS = 1024
MAX_FILES = 20_000  # one screening day is far less; a whole disk is not an import
# A file that took the worker down this many times is skipped; the import goes on.
MAX_ITEM_ATTEMPTS = 2


class ImportFolderError(Exception):
    """Readable reason a folder cannot be imported."""


def allowed_roots() -> list[Path]:
    """Removable media, plus the folders the administrator listed in Clinic settings."""
    clinic = ClinicSettings.current()
    configured = [line.strip() for line in (clinic.import_folders if clinic else "").splitlines() if line.strip()]
    roots = [*removable_mounts(), *(Path(p) for p in configured)]
    if os.name == "nt":  # USB sticks and CDs get drive letters; the system drive is not removable
        system = os.environ.get("SystemDrive", "C:").upper()
        roots += [Path(f"{letter}:\\") for letter in "DEFGHIJKLMNOPQRSTUVWXYZ" if f"{letter}:" != system]
    return [root.resolve() for root in roots if root.is_absolute()]


def check_folder(text: str) -> Path:
    """The folder to import, resolved (links followed), or ImportFolderError saying why not."""
    if not text or "\x00" in text or len(text) > MAX_PATH_CHARACTERS or not Path(text).is_absolute():
        raise ImportFolderError("Give the full path of the folder, for example /media/usb/screening-2026-11-22.")
    try:
        folder = Path(text).resolve()
        is_folder = folder.is_dir()
    except (OSError, ValueError):
        is_folder = False
    if not is_folder:
        raise ImportFolderError(f"There is no folder {text} on this computer.")
    data = settings.DATA_DIR.root.resolve()
    if folder == data or data in folder.parents:
        raise ImportFolderError("That is the workstation's own data folder; its radiographs are already stored.")
    if not any(folder == root or root in folder.parents for root in allowed_roots()):
        raise ImportFolderError(
            f"Imports read from removable media (a USB stick or CD, mounted under {', '.join(REMOVABLE_MEDIA)}) and from the folders an "
            f"administrator allows in Settings; {text} is neither. Ask an administrator to add it if it holds radiographs."
        )
    return folder


def candidate_files(folder: Path, limit: int = MAX_FILES) -> list[Path]:
    """Files to import, oldest first; more than `limit` raises ImportFolderError."""
    files = []
    # Links are listed (so the summary names them) but never followed: folders behind a link are
    # not entered, and a file link is refused when the item is read (O_NOFOLLOW).
    for current, folders, names in os.walk(folder, followlinks=False):
        folders[:] = [f for f in folders if not f.startswith(".")]
        for name in names:
            path = Path(current) / name
            if name.lower() in SKIP_NAMES or name.startswith(".") or not (path.is_symlink() or path.is_file()):
                continue
            files.append(path)
            if len(files) > limit:
                raise ImportFolderError(f"The folder holds more than {limit:,} files; import one screening session's folder at a time.")
    return sorted(files, key=lambda p: (p.lstat().st_mtime, p.as_posix()))


def open_regular_file(path: Path):  # noqa: ANN201  (a binary file object)
    """The file itself, never what a link points to, and only a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if path.is_symlink():
            raise IntakeError("a link to another file; links are not followed") from exc
        raise
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise IntakeError("not a regular file")
    return handle


def start(folder: Path, user, patient: Patient | None = None, *, confirmed: bool = False) -> ImportBatch:  # noqa: ANN001
    """Queue the import; the worker lists the folder and plans each file (see scan), then waits
    for confirm() unless `confirmed` (a scripted import whose plan needs no one's look)."""
    with transaction.atomic():
        batch = ImportBatch.objects.create(folder=str(folder), created_by=user, patient=patient, scanned=False, confirmed=confirmed)
        batch.job = queue.enqueue(BATCH_IMPORT, {"batch_id": batch.id}, priority=Priority.BULK)
        batch.save(update_fields=["job"])
    return batch


def confirm(batch: ImportBatch, unknown_names_patient: Patient | None) -> None:
    """The person has seen the preview: store the files. Files planned as new patients named
    after the file go to `unknown_names_patient` when one is given."""
    with transaction.atomic():
        batch.confirmed = True
        batch.unknown_names_patient = unknown_names_patient
        batch.job = queue.enqueue(BATCH_IMPORT, {"batch_id": batch.id}, priority=Priority.BULK)
        batch.save(update_fields=["confirmed", "unknown_names_patient", "job"])


def resume(batch: ImportBatch) -> None:
    """A new job for a stopped import; it lists the folder again only if it never got that far."""
    with transaction.atomic():
        batch.job = queue.enqueue(BATCH_IMPORT, {"batch_id": batch.id}, priority=Priority.BULK)
        batch.message = ""
        batch.save(update_fields=["job", "message"])


def scan(batch: ImportBatch, ctx: JobContext) -> None:
    """One row per file, written in one transaction (a stop mid-scan leaves no half list)."""
    ctx.progress(0.0, "Listing the folder")
    try:
        files = candidate_files(Path(batch.folder), MAX_FILES)
    except OSError as exc:
        raise ImportFolderError(f"The folder cannot be read ({exc.strerror or exc}); is the USB stick still plugged in?") from exc
    items = []
    for i, path in enumerate(files):
        if i % 50 == 0:
            ctx.progress(0.0, f"Listing the folder: {i} of {len(files)} files")
        planned_patient, source, new = plan_patient(path, batch.patient)
        items.append(ImportItem(batch=batch, position=i, path=str(path), planned_patient=planned_patient, planned_source=source, planned_new=new))
    with transaction.atomic():
        ImportItem.objects.filter(batch=batch).delete()
        ImportItem.objects.bulk_create(items)
        ImportBatch.objects.filter(id=batch.id).update(scanned=True, message="" if files else "The folder holds no files.")


def plan_patient(path: Path, chosen: Patient | None) -> tuple[str, str, bool]:
    """(patient ID, where it comes from: "chosen", "dicom" or "name", whether the record is new)
    for the preview. The same rules as intake; a file it cannot read is planned by its name and
    refused when stored, with the reason."""
    if chosen is not None:
        return chosen.patient_id, "chosen", False
    patient_id, source = "", "name"
    try:
        with open_regular_file(path) as handle:
            head = handle.read(DICOM_MAGIC_OFFSET + 4)
            if sniff(head) == "dicom" or path.suffix.lower() in {".dcm", ".dicom"}:
                import pydicom

                handle.seek(0)
                tags = pydicom.dcmread(handle, stop_before_pixels=True, force=True, specific_tags=["PatientID"])
                patient_id, source = str(tags.get("PatientID", "") or "").strip()[:64], "dicom"
    except Exception:  # noqa: BLE001  the preview guesses; intake gives the real reason later
        patient_id = ""
    if not patient_id:
        patient_id, source = path.stem[:64], "name"
    found = find_patient(patient_id)
    return (found.patient_id, source, False) if found else (patient_id, source, True)


def counts(batch: ImportBatch) -> dict[str, Any]:
    rows = {s: 0 for s in ImportItemStatus.values}
    rows.update(dict(batch.items.values_list("status").annotate(n=Count("id")).values_list("status", "n")))
    total = sum(rows.values())
    done = total - rows[ImportItemStatus.PENDING]
    finished = batch.items.exclude(finished_at=None).order_by("finished_at")
    first, last = finished.first(), finished.last()
    eta = None
    if first and last and done > 1 and rows[ImportItemStatus.PENDING]:
        rate = (done - 1) / max((last.finished_at - first.finished_at).total_seconds(), 1e-3)
        eta = rows[ImportItemStatus.PENDING] / rate if rate > 0 else None
    return {**rows, "total": total, "done": done, "eta_seconds": eta}


def stored_by_this_import(study, batch: ImportBatch, path: Path) -> bool:  # noqa: ANN001
    return (
        study.original_name == path.name[:255]
        and study.uploaded_by_id == batch.created_by_id
        and study.uploaded_at >= batch.created_at
        and not ImportItem.objects.filter(study=study).exists()
    )


@register_failure_hook(BATCH_IMPORT)
def import_failed(job_id: int, payload: dict[str, Any], error: str) -> None:
    ImportBatch.objects.filter(id=payload.get("batch_id")).update(message=error)


@register(BATCH_IMPORT)
def run_batch_import(ctx: JobContext) -> dict[str, Any]:
    batch = ImportBatch.objects.select_related("created_by", "patient").get(id=ctx.payload["batch_id"])
    if not batch.scanned:
        try:
            scan(batch, ctx)
        except ImportFolderError as exc:
            ImportBatch.objects.filter(id=batch.id).update(message=str(exc))
            raise JobError(str(exc)) from exc
        batch.refresh_from_db(fields=["confirmed"])
    if not batch.confirmed:
        return {"preview": True, "files": batch.items.count()}  # confirm() queues the storing
    total = batch.items.count()
    while True:
        item = batch.items.filter(status=ImportItemStatus.PENDING).order_by("position").first()
        if item is None:
            break
        done = batch.items.exclude(status=ImportItemStatus.PENDING).count()
        ctx.progress(done / max(total, 1), f"File {done + 1} of {total}")
        if item.attempts >= MAX_ITEM_ATTEMPTS:
            message = f"this file stopped the import {item.attempts} times (the app was killed or crashed while reading it); it was skipped"
            ImportItem.objects.filter(id=item.id).update(status=ImportItemStatus.FAILED, message=message, finished_at=timezone.now())
            continue
        ImportItem.objects.filter(id=item.id).update(attempts=F("attempts") + 1)
        path = Path(item.path)
        status, message, study = ImportItemStatus.FAILED, "", None
        try:
            with open_regular_file(path) as handle:
                head = handle.read(DICOM_MAGIC_OFFSET + 4)
                if sniff(head) is None and path.suffix.lower() not in {".dcm", ".dicom", ""}:
                    raise IntakeError("not a PNG, JPEG or DICOM image")
                handle.seek(0)
                patient = batch.patient
                if patient is None and item.planned_source == "name" and item.planned_new and batch.unknown_names_patient is not None:
                    patient = batch.unknown_names_patient
                result = intake(File(handle, name=path.name), batch.created_by, patient, patient_from_name=True, priority=Priority.BULK)
            study = result.study
            faults.point("import-stored")  # the study is committed, the item not yet marked
            if result.duplicate and item.attempts >= 1 and stored_by_this_import(study, batch, path):
                # A crash came between storing this file and marking it done: it is this
                # import's own study, not a duplicate.
                status, message = ImportItemStatus.STORED, ""
            else:
                status = ImportItemStatus.DUPLICATE if result.duplicate else ImportItemStatus.STORED
                message = f"same file as study {study.pk}" if result.duplicate else ""
        except IntakeError as exc:
            message = str(exc)
        except Exception as exc:
            if isinstance(exc, disk_full.DiskFull) or disk_full.is_disk_full(exc):
                # Not this file's fault: it stays waiting and the import stops until there is room.
                ImportItem.objects.filter(id=item.id).update(attempts=F("attempts") - 1)
                raise JobError(f"Stopped at file {done + 1} of {total}: {disk_full.MESSAGE} Then choose Retry; the import carries on from that file.") from exc
            if not isinstance(exc, OSError):
                raise
            message = f"cannot be read ({exc.strerror or exc})"
        ImportItem.objects.filter(id=item.id).update(status=status, message=message, study=study, finished_at=timezone.now())
        # Progress was made: crashes count against the file being read, not the whole import.
        Job.objects.filter(id=ctx.job.id).update(attempts=1)
    return counts(batch)
