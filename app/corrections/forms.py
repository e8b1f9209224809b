from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from app.clinical.models import Patient, VoidReason, find_patient

REASON_MIN = 5


class ReasonField(forms.CharField):
    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        kwargs.setdefault("label", _("Why"))
        kwargs.setdefault("min_length", REASON_MIN)
        kwargs.setdefault("max_length", 300)
        kwargs.setdefault("error_messages", {"required": _("Say why: it goes into the audit log."), "min_length": _("Say a little more (at least 5 characters).")})
        super().__init__(**kwargs)

    def clean(self, value):  # noqa: ANN001, ANN201
        return super().clean(value.strip() if isinstance(value, str) else value)


class PatientIdField(forms.CharField):
    """A patient ID typed (or scanned) in: resolves merged records to the one that stands."""

    def clean(self, value):  # noqa: ANN001, ANN201
        text = super().clean(value).strip()
        patient = find_patient(text)
        if patient is None:
            raise forms.ValidationError(_("There is no patient with ID %(id)s. Register the patient first."), params={"id": text})
        return patient


class MoveStudyForm(forms.Form):
    patient = PatientIdField(label=_("Move to patient ID"), max_length=64)
    reason = ReasonField(widget=forms.TextInput(attrs={"placeholder": _("e.g. uploaded on the wrong patient")}))


class VoidStudyForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why is this study void?"), choices=VoidReason.choices, widget=forms.RadioSelect)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class RestoreStudyForm(forms.Form):
    note = forms.CharField(label=_("Why restore it"), max_length=300, required=False)


class MergePatientForm(forms.Form):
    keep = PatientIdField(label=_("Keep the record with patient ID"), max_length=64,
                          help_text=_("This record's studies move there; its own ID keeps finding the person."))
    reason = ReasonField(widget=forms.TextInput(attrs={"placeholder": _("e.g. same person registered twice")}))
    confirmed = forms.BooleanField(label=_("I have checked that both records are the same person"), required=False)

    def __init__(self, *args, duplicate: Patient, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.duplicate = duplicate

    def clean_keep(self) -> Patient:
        keep = self.cleaned_data["keep"]
        if keep.pk == self.duplicate.pk:
            raise forms.ValidationError(_("That is this record; give the ID of the other record of the same person."))
        return keep
