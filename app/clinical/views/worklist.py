"""The worklist: filters, the default priority order, and second opinions for the studies it shows."""

from __future__ import annotations

from urllib.parse import urlencode
from datetime import date

from django.contrib import messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, ngettext
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from app.clinical import audit
from app.clinical.intake import queue_analysis
from app.clinical.models import AnalysisStatus, Patient, Study, analysed_findings
from app.core.paging import PAGE_SIZE, CappedPaginator
from app.jobs.models import Priority


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
