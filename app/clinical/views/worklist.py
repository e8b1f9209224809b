"""The worklist: filters, the default priority order, and second opinions for the studies it shows."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, ngettext
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from app.audit import trail as audit
from app.clinical.intake import queue_analysis
from app.clinical.models import AnalysisStatus, analysed_findings
from app.clinical.worklist_filters import as_query, clean_filters, filtered_studies
from app.core.paging import PAGE_SIZE, CappedPaginator
from app.jobs.models import Priority


@require_GET
def worklist(request: HttpRequest) -> HttpResponse:
    filters, errors = clean_filters(request.GET)
    page = CappedPaginator(filtered_studies(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "statuses": AnalysisStatus.choices, "findings": analysed_findings(), "filters": filters, "filter_errors": errors,
               "worklist_query": as_query(filters)}
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
