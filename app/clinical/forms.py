from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from app.clinical.models import Patient

# Dates are written YYYY-MM-DD everywhere in the app: a browser's date picker shows the browser's
# locale (mm/dd/yyyy on an English system) whatever language the app speaks.
ISO_DATE = {"inputmode": "numeric", "pattern": "[0-9]{4}-[0-9]{2}-[0-9]{2}", "placeholder": "YYYY-MM-DD", "autocomplete": "off"}


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ("patient_id", "full_name", "sex", "birth_date", "age_years")
        widgets = {"birth_date": forms.DateInput(attrs=ISO_DATE, format="%Y-%m-%d")}
        labels = {"patient_id": _("Patient ID"), "full_name": _("Full name"), "sex": _("Sex"), "birth_date": _("Date of birth"), "age_years": _("Age (years)")}
        help_texts = {"age_years": _("when the date of birth is unknown")}
        error_messages = {"patient_id": {"unique": _("This patient ID is already registered: use that record (search for it under Patients). If one person has two records, merge them from the duplicate's page with Merge with another record.")}}

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
    study_date = forms.DateField(
        label=_("Date the films were taken"), required=False, widget=forms.DateInput(attrs=ISO_DATE, format="%Y-%m-%d"),
        help_text=_("For PNG and JPEG files; DICOM files carry their own. Empty: today."),
    )


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
    """A radiologist's read. Nothing is pre-selected (the AI's finding is one button away, never
    the default), and the choices go beyond the pack's classes: another abnormality the pack does
    not know, or a film that cannot be read and must be taken again."""

    finding = forms.ChoiceField(label=_("Your finding"), widget=forms.RadioSelect, error_messages={"required": _("Choose a finding (number keys 1–9), or press Agree with AI.")})
    detail = forms.CharField(label=_("Which abnormality, or why not assessable"), max_length=300, required=False,
                             widget=forms.TextInput(attrs={"placeholder": _("e.g. tuberculosis, pleural effusion, nodule; or rotated, clipped bases")}))
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, choices: list[str], ai_finding: str, amending: bool = False, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.ai_finding = ai_finding
        self.amending = amending
        self.fields["finding"].choices = [(c, c) for c in choices]
        if amending:
            self.fields["note"].label = _("Why the read changes")

    def clean(self):  # noqa: ANN201
        from app.clinical.models import NOT_ASSESSABLE, OTHER_ABNORMALITY

        data = super().clean()
        finding, detail, note = data.get("finding"), data.get("detail", "").strip(), data.get("note", "").strip()
        data["detail"], data["note"] = detail, note
        if finding == OTHER_ABNORMALITY and not detail:
            self.add_error("detail", _("Say what the other abnormality is."))
        elif finding == NOT_ASSESSABLE and not detail:
            self.add_error("detail", _("Say why the film cannot be read: it goes to the radiographer as the reason for the retake."))
        elif finding and finding not in (OTHER_ABNORMALITY, NOT_ASSESSABLE):
            data["detail"] = ""  # only the two extra findings carry a detail
            if finding != self.ai_finding and not note:
                self.add_error("note", _("Say why when you override the AI finding."))
        if self.amending and not note:
            self.add_error("note", _("Say why the read changes: the addendum is signed beside the original."))
        return data
