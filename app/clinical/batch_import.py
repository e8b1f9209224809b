"""Import a whole folder (a screening session): one row per file, so a restart resumes it.

Files are taken in order of arrival (modification time, then name). Each file goes through the
same intake as an upload: duplicates are skipped and reported, unreadable files are listed with
the reason, stored radiographs get their analysis queued in the same order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from app.clinical.intake import IntakeError, intake
from app.clinical.models import ImportBatch, ImportItem, ImportItemStatus, Patient
from app.inference.image_io import DICOM_MAGIC_OFFSET, sniff
from app.jobs import queue
from app.jobs.models import Priority
from app.jobs.registry import register
from app.jobs.worker import JobContext

BATCH_IMPORT = "clinical.batch_import"
SKIP_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}


def candidate_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.name.lower() not in SKIP_NAMES and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.as_posix()))


def start(folder: Path, user, patient: Patient | None = None) -> ImportBatch:  # noqa: ANN001
    files = candidate_files(folder)
    with transaction.atomic():
        batch = ImportBatch.objects.create(folder=str(folder), created_by=user, patient=patient)
        ImportItem.objects.bulk_create([ImportItem(batch=batch, position=i, path=str(p)) for i, p in enumerate(files)])
        batch.job = queue.enqueue(BATCH_IMPORT, {"batch_id": batch.id}, priority=Priority.BULK)
        batch.save(update_fields=["job"])
    return batch


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


@register(BATCH_IMPORT)
def run_batch_import(ctx: JobContext) -> dict[str, Any]:
    batch = ImportBatch.objects.select_related("created_by", "patient").get(id=ctx.payload["batch_id"])
    total = batch.items.count()
    while True:
        item = batch.items.filter(status=ImportItemStatus.PENDING).order_by("position").first()
        if item is None:
            break
        done = batch.items.exclude(status=ImportItemStatus.PENDING).count()
        ctx.progress(done / max(total, 1), f"File {done + 1} of {total}")
        path = Path(item.path)
        status, message, study = ImportItemStatus.FAILED, "", None
        try:
            with path.open("rb") as handle:
                head = handle.read(DICOM_MAGIC_OFFSET + 4)
                if sniff(head) is None and path.suffix.lower() not in {".dcm", ".dicom", ""}:
                    raise IntakeError("not a PNG, JPEG or DICOM image")
                handle.seek(0)
                result = intake(File(handle, name=path.name), batch.created_by, batch.patient, patient_from_name=True, priority=Priority.BULK)
            study = result.study
            status = ImportItemStatus.DUPLICATE if result.duplicate else ImportItemStatus.STORED
            message = f"same file as study {study.pk}" if result.duplicate else ""
        except IntakeError as exc:
            message = str(exc)
        except OSError as exc:
            message = f"cannot be read ({exc.strerror or exc})"
        ImportItem.objects.filter(id=item.id).update(status=status, message=message, study=study, finished_at=timezone.now())
    return counts(batch)
