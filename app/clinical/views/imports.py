"""Folder import: start one, see its preview and confirm it, follow it, resume it after a full disk."""

from __future__ import annotations


from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from app.audit import trail as audit
from app.clinical.models import ImportBatch, Patient


def batch_import_start(request: HttpRequest) -> HttpResponse:
    from app.clinical import batch_import

    error = ""
    folder_text = request.POST.get("folder", "").strip()
    patients = Patient.objects.order_by("patient_id")
    if request.method == "POST":
        patient = Patient.objects.filter(pk=request.POST.get("patient") or 0).first()
        try:
            folder = batch_import.check_folder(folder_text)
        except batch_import.ImportFolderError as exc:
            error = str(exc)
        else:
            batch = batch_import.start(folder, request.user, patient)
            audit.record(request.user, audit.CREATED, batch, f"Import of {folder} started")
            return redirect("batch_import_detail", pk=batch.pk)
    recent = ImportBatch.objects.order_by("-id")[:10]
    context = {"error": error, "folder": folder_text, "recent": recent, "patients": patients, "roots": batch_import.allowed_roots()}
    return render(request, "clinical/batch_import.html", context)


# The preview and the summary list this many files (a screening day is a few hundred).
LISTED = 1000


@require_GET
def batch_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from app.clinical.batch_import import counts

    batch = get_object_or_404(ImportBatch.objects.select_related("job", "unknown_names_patient"), pk=pk)
    items = batch.items.select_related("study__patient").order_by("position")
    context = {
        "batch": batch,
        "counts": counts(batch),
        "items": items[:LISTED],
        "listed": LISTED,
        "confirm_error": "",
    }
    if batch.scanned and not batch.confirmed:
        context |= _preview_summary(batch)
    template = "clinical/_batch_progress.html" if request.headers.get("HX-Request") else "clinical/batch_import_detail.html"
    return render(request, template, context)


def _preview_summary(batch: ImportBatch) -> dict[str, object]:
    items = batch.items.all()
    new_ids = sorted(set(items.filter(planned_new=True).values_list("planned_patient", flat=True)))
    return {
        "preview": True,
        "new_patients": new_ids[:50], "new_patient_count": len(new_ids),
        "name_files_new": items.filter(planned_new=True, planned_source="name").count(),
        "existing_patient_count": items.filter(planned_new=False).values("planned_patient").distinct().count(),
    }


@require_POST
def batch_import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Store the files as the preview showed, or send files named after no known patient to one
    chosen patient."""
    from app.clinical import batch_import
    from app.clinical.models import find_patient

    batch = get_object_or_404(ImportBatch.objects.select_related("job"), pk=pk)
    if batch.confirmed or not batch.scanned:
        messages.info(request, gettext("This import is already under way."))
        return redirect("batch_import_detail", pk=pk)
    target = None
    if request.POST.get("unknown_names") == "patient":
        patient_id = request.POST.get("unknown_names_patient", "").strip()
        target = find_patient(patient_id) if patient_id else None
        if target is None:
            from app.clinical.batch_import import counts

            error = gettext("There is no patient with ID %(id)s; register the patient first or let the import create new records.") % {"id": patient_id or "—"}
            context = {"batch": batch, "counts": counts(batch), "items": batch.items.order_by("position")[:LISTED], "listed": LISTED,
                       "confirm_error": error, **_preview_summary(batch)}
            return render(request, "clinical/batch_import_detail.html", context, status=400)
    batch_import.confirm(batch, target)
    where = f"; files named after no known patient go to {target.patient_id}" if target else ""
    audit.record(request.user, audit.CREATED, batch, f"Import of {batch.folder} confirmed ({batch.items.count()} files{where})")
    messages.success(request, gettext("Importing. Each file's patient is listed below as it is stored."))
    return redirect("batch_import_detail", pk=pk)


@require_POST
def batch_import_resume(request: HttpRequest, pk: int) -> HttpResponse:
    """Carry on with an import that stopped (disk full, USB stick pulled out): the files still
    waiting are imported; those already done are not touched."""
    from app.clinical import batch_import

    batch = get_object_or_404(ImportBatch.objects.select_related("job"), pk=pk)
    if batch.job and batch.job.state != "failed":
        messages.info(request, gettext("This import is not stopped."))
    else:
        batch_import.resume(batch)
        audit.record(request.user, audit.CREATED, batch, f"Import of {batch.folder} resumed")
        messages.success(request, gettext("The import carries on from the first file still waiting."))
    return redirect("batch_import_detail", pk=batch.pk)
