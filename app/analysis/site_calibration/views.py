"""The administrator's site calibration page: what the active pack does against this clinic's
signed reads, a proposal for an operating point, activation, rollback to none, import."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from app.analysis import packs
from app.analysis.site_calibration import fitting, profiles
from app.analysis.site_calibration.models import SiteProfileRecord
from app.inference.site_profile import SiteProfile, SiteProfileError

SENSITIVITIES = [(0.8, "80%"), (0.85, "85%"), (0.9, "90%"), (0.95, "95%")]


class ProposeForm(forms.Form):
    target = forms.ChoiceField(label=_("Class whose sensitivity is the operating point"))
    sensitivity = forms.TypedChoiceField(label=_("Sensitivity to meet against the radiologists"), choices=SENSITIVITIES, coerce=float, initial=0.9)

    def __init__(self, *args, classes: tuple[str, ...], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [(c, c) for c in classes]


def site_calibration(request: HttpRequest) -> HttpResponse:
    pack = packs.active_pack()
    if pack is None:
        return render(request, "analysis/site_calibration.html", {"pack": None})
    form = ProposeForm(request.POST or None, classes=pack.classes)
    if request.method == "POST" and form.is_valid():
        try:
            record, _reads = profiles.propose(pack, form.cleaned_data["target"], form.cleaned_data["sensitivity"], request.user)
        except fitting.NotEnoughReads as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("site_profile", pk=record.pk)
    reads = profiles.signed_reads(pack.name, pack.version, pack.classes)
    counts = {c: sum(r.truth == c for r in reads) for c in (*pack.classes, "Other abnormality")}
    context = {
        "pack": pack, "form": form, "counts": counts, "reads": len(reads), "minimum": fitting.MIN_PER_GROUP,
        "records": SiteProfileRecord.objects.filter(pack_name=pack.name, pack_version=pack.version),
        "active": profiles.active_record(pack.name, pack.version),
    }
    return render(request, "analysis/site_calibration.html", context, status=400 if form.errors else 200)


def site_profile(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(SiteProfileRecord, pk=pk)
    profile = SiteProfile.from_dict(record.profile)
    changed = record.profile.get("evidence", {}).get("changed_studies", [])
    evidence = profile.evidence
    sides = [evidence.get("before", {}).get("target", {}), evidence.get("after", {}).get("target", {})]
    rows = [("sensitivity", gettext("Sensitivity")), ("specificity", gettext("Specificity")), ("ppv", gettext("Positive predictive value"))]
    return render(request, "analysis/site_profile.html", {"record": record, "profile": profile, "evidence": evidence, "changed": changed[:100],
                                                          "changed_count": len(changed), "figure_rows": rows, "figure_sides": sides})


@require_POST
def site_profile_activate(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(SiteProfileRecord, pk=pk)
    pack = packs.active_pack()
    if pack is None or (pack.name, pack.version) != (record.pack_name, record.pack_version):
        messages.error(request, gettext("This profile belongs to %(pack)s, which is not the active pack.") % {"pack": f"{record.pack_name} {record.pack_version}"})
        return redirect("site_profile", pk=pk)
    try:
        profiles.activate(record, request.user)
    except SiteProfileError as exc:
        messages.error(request, str(exc))
        return redirect("site_profile", pk=pk)
    messages.success(request, gettext("Site profile v%(version)s is active: every analysis from now on uses it; past results and signed reads stay as they are.") % {"version": record.version})
    return redirect("site_calibration")


@require_POST
def site_profile_retire(request: HttpRequest) -> HttpResponse:
    pack = packs.active_pack()
    if pack is not None and profiles.retire_all(pack.name, pack.version, request.user):
        messages.success(request, gettext("No site profile is active: analyses use the pack's own findings again."))
    return redirect("site_calibration")


@require_POST
def site_profile_import(request: HttpRequest) -> HttpResponse:
    pack = packs.active_pack()
    upload = request.FILES.get("profile")
    if pack is None or upload is None:
        messages.error(request, gettext("Choose a site profile file (.json) made for the active pack."))
        return redirect("site_calibration")
    if upload.size > 1_000_000:
        messages.error(request, gettext("That file is too large to be a site profile."))
        return redirect("site_calibration")
    try:
        record = profiles.import_file(upload.read(), request.user, pack)
    except SiteProfileError as exc:
        messages.error(request, str(exc))
        return redirect("site_calibration")
    return redirect("site_profile", pk=record.pk)
