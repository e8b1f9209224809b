"""Upload, and one study: the result viewer and its live status, images, DICOM export and PACS
send, analyse again or anyway, second opinions, and the radiologist's review."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from app.platform import disk_full
from app.audit import trail as audit
from app.clinical.forms import GateOverrideForm, UploadForm
from app.clinical.intake import IntakeError, intake, queue_analysis
from app.clinical.models import Analysis, AnalysisStatus, Study
from app.jobs import queue


STUDY_IMAGES = {"display", "heatmap", "overlay"}


def upload(request: HttpRequest) -> HttpResponse:
    initial = {"patient": request.GET.get("patient")} if request.GET.get("patient") else None
    form = UploadForm(request.POST or None, request.FILES or None, initial=initial)
    outcomes: list[dict[str, object]] = []
    if request.method == "POST" and form.is_valid():
        for upload_file in form.cleaned_data["files"]:
            try:
                result = intake(upload_file, request.user, form.cleaned_data["patient"], study_date=form.cleaned_data["study_date"])
                chosen = form.cleaned_data["patient"]
                outcomes.append({
                    "name": upload_file.name, "study": result.study, "duplicate": result.duplicate, "new_patient": result.created_patient,
                    # The same film uploaded for another patient: most likely it was first stored
                    # on the wrong one; offer to move it here instead.
                    "offer_move_to": chosen if result.duplicate and chosen and result.study.patient_id != chosen.pk else None,
                })
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
        "outcome": analysis.outcome if analysis else None,
        "result": analysis.outcome.data if analysis and analysis.outcome else None,  # what the page shows of it
        "reviews": study.reviews.select_related("reviewer", "amends"),
        # A refusal the gate will repeat (colour, blank, too small): retake or void, not again.
        "retry_useful": bool(analysis and analysis.status in (AnalysisStatus.FAILED, AnalysisStatus.CANCELLED)),
    }


def study_page_context(study: Study) -> dict[str, object]:
    """The whole study page; the status part polled every second needs only _study_context."""
    return _study_context(study) | _comparison_context(study) | _send_context(study) | {"priors": priors(study)}


PRIORS_SHOWN = 12


def priors(study: Study) -> list[Study]:
    """The patient's other films (not voided), newest first: a radiologist reads against them."""
    return list(
        Study.objects.not_voided().filter(patient_id=study.patient_id).exclude(pk=study.pk)
        .select_related("latest_analysis").order_by("-study_date", "-uploaded_at")[:PRIORS_SHOWN]
    )


def _send_context(study: Study) -> dict[str, object]:
    from app.dicom import send as dicom_send

    return {"pacs_configured": dicom_send.destination() is not None, "pacs_send": dicom_send.latest_send(study)}


@require_GET
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from app.clinical.views.reading import reading_context

    study = get_object_or_404(Study.objects.select_related("patient", "latest_analysis__job", "voided_by"), pk=pk)
    if study.voided:
        # Kept, not shown: an administrator sees voided studies and can restore them.
        return render(request, "clinical/study_voided.html", {"study": study}, status=410)
    context = study_page_context(study) | reading_context(request, study)
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


def original_preview(study: Study) -> Path:
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
def study_pixels(request: HttpRequest, pk: int) -> FileResponse:
    """The film at full bit depth for the viewer's window and level (app/clinical/viewer_pixels.py)."""
    import json

    from app.clinical.viewer_pixels import viewer_pixels

    study = get_object_or_404(Study.objects.select_related("latest_analysis"), pk=pk)
    if not study.path.is_file():
        raise Http404("The stored radiograph is missing")
    try:
        path, meta = viewer_pixels(study)
    except (ValueError, OSError) as exc:
        raise Http404(f"The film cannot be read at full depth ({exc})") from exc
    response = FileResponse(path.open("rb"), content_type="application/octet-stream")
    response["X-Viewer-Meta"] = json.dumps(meta)
    return response


THUMBNAIL_PIXELS = 96


def thumbnail(study: Study) -> Path:
    """A small PNG for the worklist row, made once from the display preview."""
    import cv2

    path = settings.DATA_DIR.derived / f"study-{study.pk}" / "thumb.png"
    if not path.is_file():
        preview = cv2.imread(str(original_preview(study)), cv2.IMREAD_GRAYSCALE)
        scale = THUMBNAIL_PIXELS / max(preview.shape)
        small = cv2.resize(preview, (max(1, round(preview.shape[1] * scale)), max(1, round(preview.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".png", small)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(encoded.tobytes())
        tmp.replace(path)
    return path


@require_GET
def study_image(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    study = get_object_or_404(Study.objects.select_related("latest_analysis"), pk=pk)
    if kind in ("original", "thumb") and not study.path.is_file():
        raise Http404("The stored radiograph is missing")
    if kind == "original":
        return FileResponse(original_preview(study).open("rb"), content_type="image/png")
    if kind == "thumb":
        return FileResponse(thumbnail(study).open("rb"), content_type="image/png")
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
    outcome = study.latest_analysis.outcome if study.latest_analysis else None
    used = (outcome.pack.name, outcome.pack.version) if outcome else None
    choices = [p for p in packs.installed_pack_models() if (p.name, p.version) != used]
    return {"study": study, "comparisons": comparisons, "compare_choices": choices,
            "comparisons_pending": any(a.status in (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING) for a in comparisons)}


def _overridable(analysis: Analysis | None) -> bool:
    """A refusal by the quality gate that a person may overrule (not colour, blank or noise)."""
    from app.inference.quality_gate import OVERRIDABLE_REFUSALS

    return bool(analysis and analysis.status == AnalysisStatus.REFUSED and analysis.outcome and analysis.outcome.refusal_code in OVERRIDABLE_REFUSALS)


@require_POST
def study_analyse_anyway(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("latest_analysis", "patient"), pk=pk)
    refused = study.latest_analysis
    if not _overridable(refused):
        messages.error(request, gettext("Only a film the quality gate refused as not looking like a chest radiograph can be analysed anyway."))
        return redirect("study_detail", pk=pk)
    form = GateOverrideForm(request.POST)
    if not form.is_valid():
        context = study_page_context(study) | {"override_form": form}
        return render(request, "clinical/study_detail.html", context, status=400)
    reason = form.cleaned_data["reason"]
    with transaction.atomic():
        analysis = queue_analysis(study, gate_override_by=request.user, gate_override_reason=reason)
        audit.record(
            request.user, audit.GATE_OVERRIDDEN, study,
            f"Study {study.pk}: quality gate overruled ({refused.outcome.refusal_code}), analysed anyway",
            analysis_id=analysis.id, refused_analysis_id=refused.id, refusal=refused.message, reason=reason,
        )
    messages.info(request, gettext("Analysing anyway. The result will be marked and always needs review."))
    return redirect("study_detail", pk=pk)


@require_POST
def study_retake_done(request: HttpRequest, pk: int) -> HttpResponse:
    """A radiographer has taken the film again (or decided not to): off the Retake list."""
    study = get_object_or_404(Study, pk=pk, retake_done_at__isnull=True)
    Study.objects.filter(pk=pk).update(retake_done_at=timezone.now())
    audit.record(request.user, audit.CHANGED, study, f"Study {study.pk}: retake marked done")
    messages.success(request, gettext("Taken off the retake list."))
    return redirect("home")
