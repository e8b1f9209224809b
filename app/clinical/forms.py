from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from app.clinical.models import Patient


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ("patient_id", "full_name", "sex", "birth_date", "age_years")
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"})}
        labels = {"patient_id": _("Patient ID"), "full_name": _("Full name"), "sex": _("Sex"), "birth_date": _("Date of birth"), "age_years": _("Age (years)")}
        help_texts = {"age_years": _("when the date of birth is unknown")}

    def clean(self):  # noqa: ANN201
        data = super().clean()
        if data.get("birth_date") and data.get("age_years") is not None:
            self.add_error("age_years", _("Give either the date of birth or the age, not both."))
        return data


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".dcm,.dicom,.png,.jpg,.jpeg,application/dicom,image/png,image/jpeg"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):  # noqa: ANN001, ANN201
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    patient = forms.ModelChoiceField(
        queryset=Patient.objects.order_by("patient_id"),
        required=False,
        label=_("Patient"),
        empty_label=_("Take the patient from each DICOM file"),
        help_text=_("PNG and JPEG files need a patient; DICOM files can bring their own."),
    )
    files = MultipleFileField(label=_("Files"), help_text=_("PNG, JPEG or DICOM; several at once is fine."))


class GateOverrideForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is this a chest radiograph the models should judge?"),
        min_length=5,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("e.g. portable AP film, ICU, lines and leads")}),
        error_messages={"required": _("Give the reason: it goes on the result and into the audit log."), "min_length": _("Say a little more (at least 5 characters).")},
    )

    def clean_reason(self) -> str:
        return self.cleaned_data["reason"].strip()


class ReviewForm(forms.Form):
    finding = forms.ChoiceField(label=_("Your finding"))
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, classes: list[str], ai_finding: str, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.ai_finding = ai_finding
        self.fields["finding"].choices = [(c, c) for c in classes]
        self.fields["finding"].initial = ai_finding

    def clean(self):  # noqa: ANN201
        data = super().clean()
        if data.get("finding") and data["finding"] != self.ai_finding and not data.get("note", "").strip():
            self.add_error("note", _("Say why when you override the AI finding."))
        return data
