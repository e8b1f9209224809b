"""The radiologist's reading loop on the study page: sign (and go on to the next study of the
worklist the radiologist came from), agree with the AI in one key, amend a signed read."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from app.audit import trail as audit
from app.clinical.forms import ReviewForm
from app.clinical.models import AnalysisStatus, Study
from app.clinical.reading import ReadError, current_read, finding_choices, sign
from app.clinical.worklist_filters import as_query, clean_filters, neighbour
from app.core.roles import RADIOLOGIST, has_role

SIGN_AND_NEXT, SIGN, AGREE_AND_NEXT = "sign_next", "sign", "agree_next"


def reading_context(request: HttpRequest, study: Study, *, form: ReviewForm | None = None, amend_form: ReviewForm | None = None,
                    read_error: str = "") -> dict[str, object]:
    """What the study page shows of the read: the signed read and its addenda, the form to sign
    or amend (radiologists only), the neighbours in the worklist and the study's history."""
    filters, _errors = clean_filters(request.GET if request.method == "GET" else _posted_filters(request))
    analysis = study.latest_analysis
    outcome = analysis.outcome if analysis else None
    read = current_read(study)
    context: dict[str, object] = {
        "read": read, "worklist_query": as_query(filters), "read_error": read_error,
        "previous_study": neighbour(study, filters, forward=False), "next_study": neighbour(study, filters),
        "history": audit.history(study)[:50],
    }
    if outcome and outcome.analysed and has_role(request.user, RADIOLOGIST):
        choices = finding_choices(outcome.classes)
        context["finding_keys"] = list(enumerate(choices, start=1))
        if read is None:
            context["review_form"] = form or ReviewForm(choices=choices, ai_finding=analysis.finding)
        else:
            context["amend_form"] = amend_form or ReviewForm(choices=choices, ai_finding=analysis.finding, amending=True)
    return context


def _posted_filters(request: HttpRequest) -> QueryDict:
    """The worklist the radiologist came from, carried through the form as its query string."""
    return QueryDict(request.POST.get("worklist", ""))


def _rerender(request: HttpRequest, study: Study, **reading: object) -> HttpResponse:
    from app.clinical.views.studies import study_page_context

    context = study_page_context(study) | reading_context(request, study, **reading)
    return render(request, "clinical/study_detail.html", context, status=400)


@require_POST
def study_review(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("latest_analysis", "patient"), pk=pk)
    analysis = study.latest_analysis
    if study.voided or not analysis or analysis.status != AnalysisStatus.ANALYSED:
        messages.error(request, gettext("There is no AI finding to review on this study."))
        return redirect("study_detail", pk=pk)
    action = request.POST.get("action", SIGN_AND_NEXT)
    data = request.POST.copy()
    if action == AGREE_AND_NEXT:
        data["finding"] = analysis.finding
    form = ReviewForm(data, choices=finding_choices(analysis.outcome.classes), ai_finding=analysis.finding)
    if not form.is_valid():
        return _rerender(request, study, form=form)
    filters, _errors = clean_filters(_posted_filters(request))
    # The next study is the one after this one in the list as it stood before this read moved
    # this study down it.
    following = neighbour(study, filters, unread_only=filters.get("reviewed") != "yes") if action != SIGN else None
    try:
        sign(study, analysis, request.user, **form.cleaned_data)
    except ReadError as exc:
        return _rerender(request, study, form=form, read_error=str(exc))
    query = as_query(filters)
    if action != SIGN:
        if following is None:
            messages.success(request, gettext("Review signed. No more studies waiting in this list."))
            return redirect(reverse("worklist") + (f"?{query}" if query else ""))
        messages.success(request, gettext("Review of study %(number)s signed.") % {"number": study.pk})
        return redirect(reverse("study_detail", args=[following.pk]) + (f"?{query}" if query else ""))
    messages.success(request, gettext("Review signed."))
    return redirect(reverse("study_detail", args=[pk]) + (f"?{query}" if query else ""))


@require_POST
def study_amend(request: HttpRequest, pk: int) -> HttpResponse:
    """An addendum: a new signed read beside the original, labelled as such, newest first."""
    study = get_object_or_404(Study.objects.select_related("latest_analysis", "patient"), pk=pk)
    analysis = study.latest_analysis
    read = current_read(study)
    if study.voided or read is None or not analysis or analysis.status != AnalysisStatus.ANALYSED:
        messages.error(request, gettext("There is no signed read to amend on this study."))
        return redirect("study_detail", pk=pk)
    form = ReviewForm(request.POST, choices=finding_choices(analysis.outcome.classes), ai_finding=analysis.finding, amending=True)
    if not form.is_valid():
        return _rerender(request, study, amend_form=form)
    try:
        sign(study, analysis, request.user, amends=read, **form.cleaned_data)
    except ReadError as exc:
        return _rerender(request, study, amend_form=form, read_error=str(exc))
    messages.success(request, gettext("Addendum signed; the original read is kept beside it."))
    query = as_query(clean_filters(_posted_filters(request))[0])
    return redirect(reverse("study_detail", args=[pk]) + (f"?{query}" if query else ""))
