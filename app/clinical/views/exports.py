"""Downloads: the worklist as CSV (spreadsheet-safe), one study as JSON, the PDF report."""

from __future__ import annotations

import csv
import io
import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from app.audit import trail as audit
from app.clinical.models import Study
from app.clinical.views.studies import original_preview
from app.clinical.worklist_filters import clean_filters, filtered_studies


CSV_COLUMNS = [
    "study", "uploaded", "patient_id", "patient_name", "sex", "ai_status", "ai_finding", "ai_confidence",
    "ai_agreement", "ai_needs_review", "quality_gate_override", "model_pack", "demonstration_pack", "reviewer_finding", "reviewer", "signed_at",
    # The finding that stands: the radiologist's signed read (its newest addendum) where there is
    # one, else the AI's, and which of the two it is.
    "reviewer_detail", "read_is_addendum", "final_finding", "final_finding_from",
    "study_date",  # the day the film was taken (DICOM Study Date, or as given at upload); "uploaded" is when it was received
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


def final_finding(study: Study) -> tuple[str, str]:
    """(finding, "radiologist" or "AI, not reviewed"): what a report or statistic should count."""
    if study.final_finding:
        return study.final_finding, "radiologist"
    a = study.latest_analysis
    if a and a.status == "analysed":
        return a.finding, "AI, not reviewed"
    return "", ""


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
                review.detail if review else "", ("yes" if review.is_addendum else "no") if review else "",
                *final_finding(study),
                study.study_date.isoformat() if study.study_date else "",
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
        "ai": None if analysis is None else {"status": analysis.status, "message": analysis.message, "result": {k: v for k, v in analysis.outcome.data.items() if k != "images"} if analysis.outcome else {}},
        "reviews": [{"finding": r.finding, "detail": r.detail, "ai_finding": r.ai_finding, "agrees_with_ai": r.agrees_with_ai, "note": r.note,
                     "reviewer": r.reviewer.get_username(), "signed_at": r.signed_at.isoformat(), "addendum_to": r.amends_id, "id": r.id}
                    for r in study.reviews.select_related("reviewer")],
        "final_finding": dict(zip(("finding", "from"), final_finding(study))),
    }
    audit.record(request.user, audit.EXPORTED, study, f"Study {study.pk} exported as JSON")
    response = JsonResponse(body, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}.json"'
    return response


@require_GET
def study_report(request: HttpRequest, pk: int) -> HttpResponse:
    from app.reports.pdf import build_pdf

    study = get_object_or_404(Study.objects.select_related("patient", "latest_analysis"), pk=pk)
    preview = original_preview(study) if study.path.is_file() else None
    pdf = build_pdf(study, preview)
    audit.record(request.user, audit.EXPORTED, study, f"Report of study {study.pk} printed as PDF")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="report-{download_name(study.patient.patient_id)}-{study.pk}.pdf"'
    # The study page's Print button prints it from a frame of this app's own page, and only there.
    from app.core.middleware import CONTENT_SECURITY_POLICY

    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response
