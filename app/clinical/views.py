"""Patients, upload, the result viewer, review, worklist, audit log and user accounts."""

from __future__ import annotations

import csv
import io
import mimetypes
import re
from urllib.parse import urlencode
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext, ngettext
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from app.platform import disk_full
from app.clinical import audit
from app.clinical.forms import GateOverrideForm, NewUserForm, PatientForm, ReviewForm, UploadForm
from app.clinical.intake import IntakeError, intake, queue_analysis
from app.clinical.models import Analysis, AnalysisStatus, AuditEvent, ImportBatch, Patient, Review, Study, analysed_findings, refresh_worklist_priority
from app.core.paging import CappedPaginator
from app.core.roles import RADIOLOGIST, grant, has_role
from app.jobs import queue
from app.jobs.models import Priority

PAGE_SIZE = 25
STUDY_IMAGES = {"display", "heatmap", "overlay"}


# -- patients ---------------------------------------------------------------------------------


@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    patients = Patient.objects.order_by("patient_id")
    if q:
        patients = patients.filter(Q(patient_id__icontains=q) | Q(full_name__icontains=q))
    page = CappedPaginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "clinical/patient_list.html", {"page": page, "q": q})


def patient_create(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        patient = form.save(commit=False)
        patient.created_by = request.user
        patient.save()
        audit.record(request.user, audit.CREATED, patient, f"Patient {patient.patient_id} registered")
        messages.success(request, gettext("Patient %(id)s registered.") % {"id": patient.patient_id})
        return redirect("patient_detail", pk=patient.pk)
    return render(request, "clinical/patient_form.html", {"form": form, "creating": True})


def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    before = {f: str(getattr(patient, f)) for f in PatientForm.Meta.fields}
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        patient = form.save()
        after = {f: str(getattr(patient, f)) for f in PatientForm.Meta.fields}
        changes = {f: [before[f], after[f]] for f in after if before[f] != after[f]}
        audit.record(request.user, audit.CHANGED, patient, f"Patient {patient.patient_id} edited", changes=changes)
        messages.success(request, gettext("Saved."))
        return redirect("patient_detail", pk=patient.pk)
    return render(request, "clinical/patient_form.html", {"form": form, "patient": patient})


@require_GET
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    studies = patient.studies.select_related("latest_analysis").order_by("-uploaded_at")
    audit.record(request.user, audit.VIEWED, patient, f"Patient {patient.patient_id} viewed")
    return render(request, "clinical/patient_detail.html", {"patient": patient, "studies": studies})


# -- upload and studies -----------------------------------------------------------------------


def upload(request: HttpRequest) -> HttpResponse:
    initial = {"patient": request.GET.get("patient")} if request.GET.get("patient") else None
    form = UploadForm(request.POST or None, request.FILES or None, initial=initial)
    outcomes: list[dict[str, object]] = []
    if request.method == "POST" and form.is_valid():
        for upload_file in form.cleaned_data["files"]:
            try:
                result = intake(upload_file, request.user, form.cleaned_data["patient"])
                outcomes.append({"name": upload_file.name, "study": result.study, "duplicate": result.duplicate, "new_patient": result.created_patient})
            except IntakeError as exc:
                outcomes.append({"name": upload_file.name, "error": str(exc)})
            except disk_full.DiskFull:
                outcomes.append({"name": upload_file.name, "error": disk_full.MESSAGE})
            except OSError as exc:
                if not disk_full.is_disk_full(exc):
                    raise
                outcomes.append({"name": upload_file.name, "error": disk_full.MESSAGE})
        stored = [o for o in outcomes if "study" in o and not o["duplicate"]]
        if len(outcomes) == 1 and stored:
            return redirect("study_detail", pk=stored[0]["study"].pk)
    return render(request, "clinical/upload.html", {"form": form, "outcomes": outcomes})


def _study_context(study: Study) -> dict[str, object]:
    analysis = study.latest_analysis
    job = analysis.job if analysis else None
    return {
        "study": study,
        "analysis": analysis,
        "override_form": GateOverrideForm() if _overridable(analysis) else None,
        "job": job,
        "queue_position": queue.queue_position(job) if job else None,
        "result": analysis.result if analysis and analysis.result else None,
        "reviews": study.reviews.select_related("reviewer"),
    }


def _study_page_context(study: Study) -> dict[str, object]:
    """The whole study page; the status part polled every second needs only _study_context."""
    return _study_context(study) | _comparison_context(study) | _send_context(study)


def _send_context(study: Study) -> dict[str, object]:
    from app.dicom import send as dicom_send

    return {"pacs_configured": dicom_send.destination() is not None, "pacs_send": dicom_send.latest_send(study)}


@require_GET
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("patient", "latest_analysis__job"), pk=pk)
    context = _study_page_context(study)
    result = context["result"]
    if result and result.get("status") == "analysed" and has_role(request.user, RADIOLOGIST):
        context["review_form"] = ReviewForm(classes=result["classes"], ai_finding=result["consensus"]["finding"])
    audit.record(request.user, audit.VIEWED, study, f"Study {study.pk} of patient {study.patient.patient_id} viewed")
    return render(request, "clinical/study_detail.html", context)


@require_GET
def study_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of the study page, polled by htmx until the analysis is final."""
    study = get_object_or_404(Study.objects.select_related("patient", "latest_analysis__job"), pk=pk)
    context = _study_context(study)
    response = render(request, "clinical/_analysis_status.html", context)
    analysis = context["analysis"]
    if analysis and analysis.status in (AnalysisStatus.ANALYSED, AnalysisStatus.REFUSED) and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"  # show the full result (viewer, review) once
    return response


def _original_preview(study: Study) -> Path:
    """The stored radiograph as a display PNG, made once: viewable even when no AI result exists."""
    import cv2
    import numpy as np

    from app.inference.heatmap import display_size, encode_png
    from app.inference.io.files import load_image

    path = settings.DATA_DIR.derived / f"study-{study.pk}" / "original.png"
    if not path.is_file():
        pixels = load_image(study.path).pixels
        height, width = display_size(*pixels.shape)
        small = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(encode_png(np.round(small * 255).astype(np.uint8)))
        tmp.replace(path)
    return path


@require_GET
def study_image(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    study = get_object_or_404(Study.objects.select_related("latest_analysis"), pk=pk)
    if kind == "original":
        return FileResponse(_original_preview(study).open("rb"), content_type="image/png")
    analysis = study.latest_analysis
    path = analysis.image_path(kind) if analysis and kind in STUDY_IMAGES else None
    if path is None:
        raise Http404("No such image")
    response = FileResponse(path.open("rb"), content_type=mimetypes.guess_type(path.name)[0] or "image/png")
    return response


@require_GET
def study_dicom(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The AI result as DICOM for the PACS: "sc" (image with the finding) or "sr" (report)."""
    from app.dicom import results as dicom_results

    study = get_object_or_404(Study.objects.select_related("latest_analysis", "patient"), pk=pk)
    if kind not in ("sc", "sr"):
        raise Http404("No such object")
    try:
        content = dicom_results.export(study, kind)
    except dicom_results.NoResult as exc:
        raise Http404(str(exc)) from exc
    audit.record(request.user, audit.EXPORTED, study, f"Study {study.pk} AI result exported as DICOM {kind.upper()}")
    response = HttpResponse(content, content_type="application/dicom")
    response["Content-Disposition"] = f'attachment; filename="ai-result-{kind}-{study.pk}.dcm"'
    return response


@require_POST
def study_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the study's AI result (SC + SR) to the PACS now, as a job."""
    from app.dicom import send as dicom_send

    study = get_object_or_404(Study.objects.select_related("latest_analysis"), pk=pk)
    if dicom_send.destination() is None:
        messages.error(request, gettext("No PACS is set. An administrator sets its address, port and AE title in Settings."))
    elif not study.latest_analysis or study.latest_analysis.status != AnalysisStatus.ANALYSED:
        messages.error(request, gettext("There is no AI finding to send yet."))
    else:
        dicom_send.queue_send(study)
        audit.record(request.user, audit.EXPORTED, study, f"Study {study.pk} AI result queued for sending to the PACS")
        messages.info(request, gettext("The AI result is being sent to the PACS."))
    return redirect("study_detail", pk=pk)


@require_POST
def study_retry(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    with transaction.atomic():
        analysis = queue_analysis(study)
        audit.record(request.user, audit.ANALYSED, study, f"Analysis of study {study.pk} queued again", analysis_id=analysis.id)
    messages.info(request, gettext("The analysis was queued again."))
    return redirect("study_detail", pk=study.pk)


@require_POST
def study_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """A second opinion from another installed pack, shown beside the study's own result."""
    from app.analysis import packs

    study = get_object_or_404(Study.objects.select_related("latest_analysis"), pk=pk)
    name, _, version = request.POST.get("pack", "").partition("@")
    if (name, version) not in {(p.name, p.version) for p in packs.installed_pack_models()}:
        messages.error(request, gettext("That model pack is not installed."))
        return redirect("study_detail", pk=pk)
    with transaction.atomic():
        analysis = queue_analysis(study, compare_with=(name, version))
        audit.record(request.user, audit.ANALYSED, study, f"Study {study.pk} analysed again with {name} {version} for comparison", analysis_id=analysis.id)
    messages.info(request, gettext("The comparison is queued; its result appears beside the study's own."))
    return redirect("study_detail", pk=pk)


@require_GET
def study_comparisons(request: HttpRequest, pk: int) -> HttpResponse:
    """The comparisons part of the study page, polled while one is being analysed."""
    study = get_object_or_404(Study, pk=pk)
    return render(request, "clinical/_comparisons.html", _comparison_context(study))


def _comparison_context(study: Study) -> dict[str, object]:
    from app.analysis import packs

    comparisons = list(study.analyses.exclude(compared_pack="").select_related("job").order_by("id"))
    used = study.latest_analysis.result.get("pack", {}) if study.latest_analysis and study.latest_analysis.result else {}
    choices = [p for p in packs.installed_pack_models() if (p.name, p.version) != (used.get("name"), used.get("version"))]
    return {"study": study, "comparisons": comparisons, "compare_choices": choices,
            "comparisons_pending": any(a.status in (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING) for a in comparisons)}


def _overridable(analysis: Analysis | None) -> bool:
    """A refusal by the quality gate that a person may overrule (not colour, blank or noise)."""
    from app.inference.quality_gate import OVERRIDABLE_REFUSALS

    return bool(analysis and analysis.status == AnalysisStatus.REFUSED and analysis.result and analysis.result.get("code") in OVERRIDABLE_REFUSALS)


@require_POST
def study_analyse_anyway(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("latest_analysis", "patient"), pk=pk)
    refused = study.latest_analysis
    if not _overridable(refused):
        messages.error(request, gettext("Only a film the quality gate refused as not looking like a chest radiograph can be analysed anyway."))
        return redirect("study_detail", pk=pk)
    form = GateOverrideForm(request.POST)
    if not form.is_valid():
        context = _study_page_context(study) | {"override_form": form}
        return render(request, "clinical/study_detail.html", context, status=400)
    reason = form.cleaned_data["reason"]
    with transaction.atomic():
        analysis = queue_analysis(study, gate_override_by=request.user, gate_override_reason=reason)
        audit.record(
            request.user, audit.GATE_OVERRIDDEN, study,
            f"Study {study.pk}: quality gate overruled ({refused.result['code']}), analysed anyway",
            analysis_id=analysis.id, refused_analysis_id=refused.id, refusal=refused.message, reason=reason,
        )
    messages.info(request, gettext("Analysing anyway. The result will be marked and always needs review."))
    return redirect("study_detail", pk=pk)


@require_POST
def study_review(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("latest_analysis", "patient"), pk=pk)
    analysis = study.latest_analysis
    if not analysis or analysis.status != AnalysisStatus.ANALYSED:
        messages.error(request, gettext("There is no AI finding to review yet."))
        return redirect("study_detail", pk=pk)
    form = ReviewForm(request.POST, classes=analysis.result["classes"], ai_finding=analysis.finding)
    if not form.is_valid():
        context = _study_page_context(study) | {"review_form": form}
        return render(request, "clinical/study_detail.html", context, status=400)
    with transaction.atomic():
        review = Review.objects.create(
            study=study,
            analysis=analysis,
            reviewer=request.user,
            ai_finding=analysis.finding,
            finding=form.cleaned_data["finding"],
            agrees_with_ai=form.cleaned_data["finding"] == analysis.finding,
            note=form.cleaned_data["note"],
            signed_at=timezone.now(),
        )
        Study.objects.filter(pk=study.pk).update(reviewed=True)
        refresh_worklist_priority(Study.objects.filter(pk=study.pk))
        verb = "confirmed" if review.agrees_with_ai else f"overrode {analysis.finding} with"
        audit.record(request.user, audit.REVIEWED, study, f"Study {study.pk}: reviewer {verb} {review.finding}", review_id=review.id, note=review.note)
    messages.success(request, gettext("Review signed."))
    return redirect("study_detail", pk=pk)


# -- worklist ---------------------------------------------------------------------------------


def clean_filters(params) -> tuple[dict[str, str], list[str]]:  # noqa: ANN001
    """The worklist's filters from a query string, and what was wrong with them. A bad date is
    dropped (and said), never passed to the database (it made the page answer 500)."""
    cleaned = {key: params.get(key, "").strip() for key in ("status", "finding", "reviewed", "q", "from", "to", "sort")}
    errors = []
    for key, label in (("from", "From"), ("to", "To")):
        if cleaned[key]:
            try:
                date.fromisoformat(cleaned[key])
            except ValueError:
                errors.append(f"{label}: “{cleaned[key][:40]}” is not a date; write it as YYYY-MM-DD. That filter was left out.")
                cleaned[key] = ""
    return cleaned, errors


def filtered_studies(params: dict[str, str]) -> QuerySet[Study]:
    """The worklist's filters (already cleaned by clean_filters) and sort order, shared by the page
    and its CSV export."""
    studies = Study.objects.select_related("patient", "latest_analysis")
    status = params.get("status", "")
    finding = params.get("finding", "")
    reviewed = params.get("reviewed", "")
    q = params.get("q", "").strip()
    date_from, date_to = params.get("from", ""), params.get("to", "")
    if status:
        studies = studies.filter(latest_analysis__status=status)
    if finding:
        studies = studies.filter(latest_analysis__finding=finding)
    if reviewed in ("yes", "no"):
        studies = studies.filter(reviewed=reviewed == "yes")
    if q:
        # Patients first, then their studies by the patient index: as a join, the database walked
        # every study in the list's order testing each one's patient (3 s at 1,000,000 studies).
        patients = Patient.objects.filter(Q(patient_id__icontains=q) | Q(full_name__icontains=q))
        studies = studies.filter(patient__in=patients)
    if date_from:
        studies = studies.filter(uploaded_at__date__gte=date_from)
    if date_to:
        studies = studies.filter(uploaded_at__date__lte=date_to)
    sort = params.get("sort", "priority")
    if sort == "newest":
        return studies.order_by("-uploaded_at")
    if sort == "oldest":
        return studies.order_by("uploaded_at")
    # Unreviewed positives and needs-review first, then newest.
    return studies.order_by("-worklist_priority", "-uploaded_at", "-id")


@require_GET
def worklist(request: HttpRequest) -> HttpResponse:
    filters, errors = clean_filters(request.GET)
    page = CappedPaginator(filtered_studies(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "statuses": AnalysisStatus.choices, "findings": analysed_findings(), "filters": filters, "filter_errors": errors}
    if not request.headers.get("HX-Request"):
        from app.analysis import packs

        context["compare_choices"] = packs.installed_pack_models()
        context["max_comparisons"] = MAX_COMPARISONS
    template = "clinical/_worklist_table.html" if request.headers.get("HX-Request") else "clinical/worklist.html"
    return render(request, template, context)


# A second opinion for many studies at once is bounded: each is a full analysis on this computer.
MAX_COMPARISONS = 200


@require_POST
def worklist_compare(request: HttpRequest) -> HttpResponse:
    """Second opinions from another installed pack for the studies the worklist shows (its current
    filters and order, the first MAX_COMPARISONS), each beside that study's own result."""
    from app.analysis import packs

    filters, errors = clean_filters(request.POST)
    name, _, version = request.POST.get("pack", "").partition("@")
    if errors or (name, version) not in {(p.name, p.version) for p in packs.installed_pack_models()}:
        messages.error(request, gettext("That model pack is not installed.") if not errors else "; ".join(errors))
        return redirect("worklist")
    studies = list(filtered_studies(filters).filter(latest_analysis__status=AnalysisStatus.ANALYSED)[:MAX_COMPARISONS])
    with transaction.atomic():
        for study in studies:
            queue_analysis(study, compare_with=(name, version), priority=Priority.BULK)
        audit.record(request.user, audit.ANALYSED, None, f"{len(studies)} studies queued for comparison with {name} {version}", filters=filters)
    messages.info(request, ngettext(
        "%(count)d study will also be analysed with %(pack)s; each result appears beside the study's own.",
        "%(count)d studies will also be analysed with %(pack)s; each result appears beside the study's own.", len(studies),
    ) % {"count": len(studies), "pack": f"{name} {version}"})
    return redirect(reverse("worklist") + "?" + urlencode({k: v for k, v in filters.items() if v}))


CSV_COLUMNS = [
    "study", "uploaded", "patient_id", "patient_name", "sex", "ai_status", "ai_finding", "ai_confidence",
    "ai_agreement", "ai_needs_review", "quality_gate_override", "model_pack", "demonstration_pack", "reviewer_finding", "reviewer", "signed_at",
]


SPREADSHEET_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Text a spreadsheet would run as a formula (=HYPERLINK(...), +cmd...) is kept as text."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA_STARTS):
        return "'" + value
    return value


def download_name(text: str) -> str:
    """A file-name part that survives any header and file system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "patient"


@require_GET
def worklist_csv(request: HttpRequest) -> HttpResponse:
    """The worklist with its current filters as CSV: UTF-8 with BOM so spreadsheets read accents."""
    filters, errors = clean_filters(request.GET)
    if errors:
        return HttpResponse("\n".join(errors), status=400, content_type="text/plain; charset=utf-8")
    studies = filtered_studies(filters).select_related("latest_analysis__gate_override_by").prefetch_related("reviews__reviewer")
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for study in studies:
        a = study.latest_analysis
        review = next(iter(study.reviews.all()), None)
        writer.writerow(
            csv_cell(cell)
            for cell in [
                study.pk, timezone.localtime(study.uploaded_at).strftime("%Y-%m-%d %H:%M"), study.patient.patient_id,
                study.patient.full_name, study.patient.sex, a.status if a else "", a.finding if a else "",
                f"{a.confidence:.3f}" if a and a.confidence is not None else "", f"{a.agreement}/{a.members}" if a and a.agreement is not None else "",
                ("yes" if a.needs_review else "no") if a else "", a.gate_override_text() if a else "", f"{a.pack_name} {a.pack_version}".strip() if a else "",
                ("yes" if a.demonstration else "no") if a and a.pack_name else "", review.finding if review else "",
                review.reviewer.get_username() if review else "", timezone.localtime(review.signed_at).strftime("%Y-%m-%d %H:%M") if review else "",
            ]
        )
        count += 1
    audit.record(request.user, audit.EXPORTED, None, f"Worklist exported as CSV ({count} studies)", filters=dict(request.GET.items()))
    response = HttpResponse(buffer.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="worklist-{timezone.localdate():%Y%m%d}.csv"'
    return response


@require_GET
def study_json(request: HttpRequest, pk: int) -> JsonResponse:
    study = get_object_or_404(Study.objects.select_related("patient", "latest_analysis"), pk=pk)
    patient = study.patient
    analysis = study.latest_analysis
    body = {
        "format": "cxr-workstation-study/1",
        "patient": {"patient_id": patient.patient_id, "name": patient.full_name, "sex": patient.sex, "birth_date": patient.birth_date.isoformat() if patient.birth_date else None, "age_years": patient.age_years},
        "study": {"id": study.pk, "sha256": study.sha256, "original_name": study.original_name, "format": study.file_format, "width": study.width, "height": study.height, "study_date": study.study_date.isoformat() if study.study_date else None, "accession_number": study.accession_number, "uploaded_at": study.uploaded_at.isoformat(), "dicom": study.dicom},
        "ai": None if analysis is None else {"status": analysis.status, "message": analysis.message, "result": {k: v for k, v in (analysis.result or {}).items() if k != "images"}},
        "reviews": [{"finding": r.finding, "ai_finding": r.ai_finding, "agrees_with_ai": r.agrees_with_ai, "note": r.note, "reviewer": r.reviewer.get_username(), "signed_at": r.signed_at.isoformat()} for r in study.reviews.select_related("reviewer")],
    }
    audit.record(request.user, audit.EXPORTED, study, f"Study {study.pk} exported as JSON")
    response = JsonResponse(body, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}.json"'
    return response


@require_GET
def study_report(request: HttpRequest, pk: int) -> HttpResponse:
    from app.reports.pdf import build_pdf

    study = get_object_or_404(Study.objects.select_related("patient", "latest_analysis"), pk=pk)
    preview = _original_preview(study) if study.path.is_file() else None
    pdf = build_pdf(study, preview)
    audit.record(request.user, audit.EXPORTED, study, f"Report of study {study.pk} printed as PDF")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="report-{download_name(study.patient.patient_id)}-{study.pk}.pdf"'
    return response


# -- batch import -----------------------------------------------------------------------------


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


# -- administration ---------------------------------------------------------------------------


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.all()
    for field in ("action", "username"):
        if request.GET.get(field):
            events = events.filter(**{field: request.GET[field]})
    if request.GET.get("q"):
        events = events.filter(summary__icontains=request.GET["q"])
    page = CappedPaginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "clinical/audit_log.html", {"page": page, "filters": request.GET, "actions": audit.ACTION_LABELS})


@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.prefetch_related("groups").order_by("username")
    return render(request, "clinical/user_list.html", {"users": users})


def user_create(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        grant(user, form.cleaned_data["role"])
        audit.record(request.user, audit.CREATED, user, f"Account {user.username} created as {form.cleaned_data['role']}")
        messages.success(request, gettext("Account %(name)s created.") % {"name": user.username})
        return redirect("user_list")
    return render(request, "clinical/user_form.html", {"form": form})
