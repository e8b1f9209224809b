"""The correction pages: move or void a study, restore a voided one (administrators), merge two
records of one person. Each asks why; app/corrections/actions.py does the work and audits it."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from app.clinical.models import Patient, Study
from app.core.paging import PAGE_SIZE, CappedPaginator
from app.corrections import actions
from app.corrections.forms import MergePatientForm, MoveStudyForm, RestoreStudyForm, VoidStudyForm


def study_move(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.not_voided().select_related("patient"), pk=pk)
    initial = {"patient": request.GET.get("to", "")}
    form = MoveStudyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.move_study(study, form.cleaned_data["patient"], request.user, form.cleaned_data["reason"])
        except actions.CorrectionError as exc:
            form.add_error("patient", str(exc))
        else:
            messages.success(request, gettext("Study %(number)s now belongs to patient %(id)s.") % {"number": study.pk, "id": study.patient.patient_id})
            return redirect("study_detail", pk=study.pk)
    return render(request, "corrections/move.html", {"study": study, "form": form}, status=400 if form.errors else 200)


def study_void(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.not_voided().select_related("patient"), pk=pk)
    form = VoidStudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.void_study(study, request.user, form.cleaned_data["reason"], form.cleaned_data["note"].strip())
        except actions.CorrectionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, gettext("Study %(number)s was voided. It is kept; an administrator can restore it.") % {"number": study.pk})
            return redirect("patient_detail", pk=study.patient_id)
    return render(request, "corrections/void.html", {"study": study, "form": form}, status=400 if form.errors else 200)


@require_GET
def voided_list(request: HttpRequest) -> HttpResponse:
    studies = Study.objects.exclude(voided_at=None).select_related("patient", "voided_by", "latest_analysis").order_by("-voided_at")
    page = CappedPaginator(studies, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "corrections/voided_list.html", {"page": page, "restore_form": RestoreStudyForm()})


@require_GET
def voided_image(request: HttpRequest, pk: int) -> FileResponse:
    """The film of a voided study, for the administrator deciding whether to restore it."""
    from app.clinical.views.studies import thumbnail

    study = get_object_or_404(Study.objects.exclude(voided_at=None), pk=pk)
    if not study.path.is_file():
        raise Http404("The stored radiograph is missing")
    return FileResponse(thumbnail(study).open("rb"), content_type="image/png")


@require_POST
def study_restore(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("patient"), pk=pk)
    form = RestoreStudyForm(request.POST)
    form.is_valid()
    try:
        actions.restore_study(study, request.user, form.cleaned_data.get("note", "").strip())
    except actions.CorrectionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, gettext("Study %(number)s of patient %(id)s is back on the worklists.") % {"number": study.pk, "id": study.patient.patient_id})
    return redirect("voided_list")


def patient_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge this record (the duplicate) into another record of the same person."""
    duplicate = get_object_or_404(Patient.objects.filter(merged_into=None), pk=pk)
    form = MergePatientForm(request.POST or None, duplicate=duplicate, initial={"keep": request.GET.get("into", "")})
    keep = form.cleaned_data["keep"] if request.method == "POST" and form.is_valid() else None
    if keep is not None and form.cleaned_data["confirmed"]:
        try:
            moved = actions.merge_patients(duplicate, keep, request.user, form.cleaned_data["reason"])
        except actions.CorrectionError as exc:
            form.add_error("keep", str(exc))
        else:
            messages.success(request, gettext("Patient %(old)s merged into %(kept)s: %(count)d studies moved. %(old)s still finds this record.")
                             % {"old": duplicate.patient_id, "kept": keep.patient_id, "count": moved})
            return redirect("patient_detail", pk=keep.pk)
    context = {"duplicate": duplicate, "keep": keep, "form": form, "duplicate_studies": duplicate.studies.count()}
    return render(request, "corrections/merge.html", context, status=400 if form.errors else 200)
