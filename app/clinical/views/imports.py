"""Folder import: start one, follow it, resume it after a full disk."""

from __future__ import annotations


from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from app.clinical import audit
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


@require_GET
def batch_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from app.clinical.batch_import import counts

    batch = get_object_or_404(ImportBatch.objects.select_related("job"), pk=pk)
    context = {
        "batch": batch,
        "counts": counts(batch),
        "problems": batch.items.filter(status__in=["failed", "duplicate"]).order_by("position")[:500],
    }
    template = "clinical/_batch_progress.html" if request.headers.get("HX-Request") else "clinical/batch_import_detail.html"
    return render(request, template, context)


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
