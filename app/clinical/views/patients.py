"""Patients: the list (searchable), new, edit, and one patient's studies."""

from __future__ import annotations


from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from app.audit import trail as audit
from app.clinical.forms import PatientForm
from app.clinical.models import Patient
from app.core.paging import PAGE_SIZE, CappedPaginator


@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    patients = Patient.objects.filter(merged_into=None).order_by("patient_id")
    if q:
        # A merged record's old ID finds the record it was merged into.
        matching = Patient.objects.filter(Patient.matching(q))
        patients = patients.filter(Q(pk__in=matching) | Q(pk__in=matching.exclude(merged_into=None).values("merged_into")))
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
    return render(request, "clinical/patient_form.html", {"form": form, "creating": True, "existing": _existing(form)})


def _existing(form: PatientForm) -> Patient | None:
    """The registered patient an ID typed again belongs to, to link to instead of a bare refusal."""
    if not form.is_bound or "patient_id" not in form.errors:
        return None
    found = Patient.objects.filter(patient_id=form.data.get("patient_id", "").strip()).first()
    return found.resolved() if found else None


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
    return render(request, "clinical/patient_form.html", {"form": form, "patient": patient, "existing": _existing(form)})


@require_GET
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    if patient.merged_into_id is not None:
        kept = patient.resolved()
        messages.info(request, gettext("Patient %(old)s was merged into %(kept)s on %(when)s.") % {
            "old": patient.patient_id, "kept": kept.patient_id, "when": f"{patient.merged_at:%Y-%m-%d}" if patient.merged_at else "—"})
        return redirect("patient_detail", pk=kept.pk)
    studies = patient.studies.not_voided().select_related("latest_analysis").order_by("-uploaded_at")
    context = {"patient": patient, "studies": studies, "merged_records": patient.merged_records.order_by("patient_id"),
               "voided_count": patient.studies.exclude(voided_at=None).count()}
    audit.record(request.user, audit.VIEWED, patient, f"Patient {patient.patient_id} viewed")
    return render(request, "clinical/patient_detail.html", context)
