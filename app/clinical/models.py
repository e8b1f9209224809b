"""Patients, studies (one radiograph each), their AI analyses and radiologist reviews, and the audit trail."""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import cached_property
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils import timezone

from app.analysis.result import AnalysisResult
from app.jobs.models import Job


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "O", _("Other")
    UNKNOWN = "U", _("Unknown")


def validate_patient_id(value: str) -> None:
    """Patient IDs go into file names, PDF headers, CSV cells and DICOM tags: printable text only.
    (A line break made the study's PDF fail; a quote broke the download's file name.)"""
    if value != value.strip():
        raise ValidationError("The patient ID must not start or end with a space.")
    bad = sorted({c for c in value if unicodedata.category(c).startswith("C") or c in '"\\'})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValidationError(f"The patient ID contains characters that are not allowed ({shown}): use letters, digits and - _ . / only.")


def search_form(text: str) -> str:
    """Text as searched: case and accents folded ("José" and "JOSE" are both "jose"), so a search
    typed on any keyboard finds the name as registered."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class Patient(models.Model):
    patient_id = models.CharField("patient ID", max_length=64, unique=True, validators=[validate_patient_id])
    full_name = models.CharField(max_length=200, blank=True)
    # full_name as searched (search_form), kept by save(); SQLite has no accent folding of its own.
    name_search = models.CharField(max_length=200, blank=True, editable=False)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_date = models.DateField(null=True, blank=True)
    age_years = models.PositiveSmallIntegerField(null=True, blank=True, help_text="when the date of birth is unknown")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Merged into another record of the same person (app/corrections): this row is kept, its
    # studies moved, and its patient ID still finds the person (search, DICOM intake, imports).
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_records")
    merged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["full_name"], name="patient_name")]

    @staticmethod
    def matching(text: str) -> models.Q:
        """Patients whose ID or name contains the text, ignoring case and accents."""
        return models.Q(patient_id__icontains=text) | models.Q(name_search__contains=search_form(text))

    def __str__(self) -> str:
        return f"{self.patient_id} {self.full_name}".strip()

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self.name_search = search_form(self.full_name)
        if kwargs.get("update_fields") is not None and "full_name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "name_search"}
        super().save(*args, **kwargs)

    def resolved(self) -> Patient:
        """The record this one was merged into (following merges of merges), else itself."""
        patient, seen = self, {self.pk}
        while patient.merged_into_id is not None and patient.merged_into_id not in seen:
            seen.add(patient.merged_into_id)
            patient = patient.merged_into
        return patient

    def age_on(self, day: date | None) -> int | None:
        """Age in whole years on the day of a study, from the date of birth, else the recorded age."""
        if self.birth_date and day:
            return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))
        return self.age_years

    @property
    def unnamed(self) -> bool:
        """A record made from a file name or a bare ID: a film on it may be on an unknown person."""
        return not self.full_name.strip()


def find_patient(patient_id: str) -> Patient | None:
    """The patient with this ID, or the one its record was merged into."""
    patient = Patient.objects.filter(patient_id=patient_id).select_related("merged_into").first()
    return patient.resolved() if patient else None


class VoidReason(models.TextChoices):
    ENTERED_IN_ERROR = "entered_in_error", _("Entered in error")
    WRONG_FILM = "wrong_film", _("Wrong film (not this patient's or not this examination)")
    TEST = "test", _("Test or practice image")


class StudyQuerySet(models.QuerySet):
    def not_voided(self) -> StudyQuerySet:
        return self.filter(voided_at__isnull=True)


# The radiologist's choices beyond the pack's classes (stored as written, like class names).
OTHER_ABNORMALITY = "Other abnormality"
NOT_ASSESSABLE = "Not assessable"


class Study(models.Model):
    """One uploaded radiograph, stored unchanged, named by its sha256."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    sha256 = models.CharField(max_length=64, unique=True)
    original_name = models.CharField(max_length=255)
    stored_name = models.CharField(max_length=100)
    file_format = models.CharField(max_length=10)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    dicom = models.JSONField(default=dict, blank=True)
    study_date = models.DateField(null=True, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    latest_analysis = models.ForeignKey("Analysis", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed = models.BooleanField(default=False)
    # The worklist's default order (unreviewed positives, then unreviewed needing review, ...),
    # kept on the study by refresh_worklist_priority so one index serves the first page at any
    # archive size: ordering by the analysis's fields through the join sorted every study.
    worklist_priority = models.PositiveSmallIntegerField(default=4)
    # The signed read (the newest review or addendum), kept here for the worklist and exports.
    final_finding = models.CharField(max_length=64, blank=True)
    final_agrees = models.BooleanField(null=True)
    # Voided (entered in error, wrong film, test): hidden from worklists and statistics, never
    # deleted; an administrator sees and can restore it (app/corrections).
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    void_reason = models.CharField(max_length=20, choices=VoidReason.choices, blank=True)
    void_note = models.TextField(blank=True)
    # A "Not assessable" read or a refused film asks for a retake; a radiographer marks it done.
    retake_done_at = models.DateTimeField(null=True, blank=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["-uploaded_at"], name="study_uploaded"),
            models.Index(fields=["reviewed", "-uploaded_at"], name="study_reviewed"),
            # Ascending, read backwards: ORDER BY priority DESC, uploaded_at DESC, id DESC is then
            # exactly the index order (SQLite appends the rowid), with no sort step.
            models.Index(fields=["worklist_priority", "uploaded_at"], name="study_worklist"),
            # The statistics page counts each person's uploads of a period, and the few voided
            # studies, from an index instead of the rows.
            models.Index(fields=["uploaded_by", "uploaded_at"], name="study_uploader"),
            models.Index(fields=["uploaded_at"], name="study_voided", condition=models.Q(voided_at__isnull=False)),
            # The radiographers' retake list (app/clinical/retakes.py).
            models.Index(fields=["uploaded_at"], name="study_not_assessable", condition=models.Q(final_finding="Not assessable")),
        ]

    def __str__(self) -> str:
        return f"Study {self.pk} of {self.patient}"

    @property
    def voided(self) -> bool:
        return self.voided_at is not None

    @property
    def path(self):  # noqa: ANN201
        return settings.DATA_DIR.originals / self.stored_name


def refresh_worklist_priority(studies: models.QuerySet[Study]) -> None:
    """Recompute Study.worklist_priority from the study and its latest analysis: 4 when not yet
    reviewed, + 2 when the finding is positive, + 1 when the ensemble asked for a review. Called
    wherever one of those changes (a new analysis, an analysis finishing, a review signed)."""
    studies.update(worklist_priority=worklist_priority_expression(Analysis))


def worklist_priority_expression(analysis_model: type[models.Model]) -> models.Expression:
    """The SQL for Study.worklist_priority; takes the Analysis model so that the migration that
    added the field fills it with the same rule (from its historical model)."""
    latest = analysis_model.objects.filter(pk=models.OuterRef("latest_analysis_id"))
    from_analysis = models.Case(models.When(positive=True, then=2), default=0) + models.Case(models.When(needs_review=True, then=1), default=0)
    return models.Case(models.When(reviewed=False, then=4), default=0) + Coalesce(models.Subquery(latest.annotate(p=from_analysis).values("p")[:1]), 0)


class AnalysisStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Analysing")
    ANALYSED = "analysed", _("Analysed")
    REFUSED = "refused", _("Not a frontal chest radiograph")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Analysis(models.Model):
    """One AI run on a study. The full engine result is kept; the fields below are for lists."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="analyses")
    job = models.OneToOneField(Job, null=True, on_delete=models.SET_NULL, related_name="analysis")
    status = models.CharField(max_length=12, choices=AnalysisStatus.choices, default=AnalysisStatus.QUEUED)
    finding = models.CharField(max_length=64, blank=True)
    confidence = models.FloatField(null=True)
    agreement = models.PositiveSmallIntegerField(null=True)
    members = models.PositiveSmallIntegerField(null=True)
    needs_review = models.BooleanField(default=False)
    positive = models.BooleanField(default=False, help_text="finding other than the pack's normal class")
    pack_name = models.CharField(max_length=100, blank=True)
    pack_version = models.CharField(max_length=40, blank=True)
    demonstration = models.BooleanField(default=True)
    device = models.CharField(max_length=100, blank=True)
    seconds = models.FloatField(null=True)
    message = models.TextField(blank=True, help_text="refusal or failure reason")
    result = models.JSONField(null=True, blank=True)
    # "Analyse anyway": a person overruled the quality gate's refusal of this study, saying why.
    gate_override_reason = models.TextField(blank=True)
    gate_override_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    gate_override_at = models.DateTimeField(null=True, blank=True)
    # A second opinion asked of another installed pack ("name@version"), shown beside the study's
    # own result and never replacing it; empty for the study's own analyses (the active pack).
    compared_pack = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "finding"], name="analysis_status_finding"),
            # The dashboard's average analysis time over the last week.
            models.Index(fields=["finished_at"], name="analysis_finished"),
        ]

    def __str__(self) -> str:
        return f"Analysis {self.pk} ({self.status})"

    @property
    def gate_overridden(self) -> bool:
        return self.gate_override_at is not None

    @cached_property
    def outcome(self) -> AnalysisResult | None:
        """The engine's result, typed (app/analysis/result.py reads every stored schema); None
        while the analysis is queued or running, or when it failed."""
        return AnalysisResult.from_stored(self.result) if self.result else None

    def image_path(self, kind: str) -> Path | None:
        """A derived image of this analysis (display, heatmap, overlay), inside the data directory."""
        name = self.outcome.images.get(kind) if self.outcome else None
        if not name:
            return None
        full = (settings.DATA_DIR.root / name).resolve()
        derived = settings.DATA_DIR.derived.resolve()
        return full if derived in full.parents and full.is_file() else None

    def gate_override_text(self) -> str:
        """One line for the study page, the PDF and the CSV: what was overruled, why, by whom, when."""
        if not self.gate_overridden:
            return ""
        from django.utils.translation import gettext

        who = self.gate_override_by.get_full_name() or self.gate_override_by.get_username() if self.gate_override_by else gettext("a deleted account")
        return gettext("Analysed despite the quality gate: %(reason)s (by %(who)s, %(when)s)") % {
            "reason": self.gate_override_reason, "who": who, "when": f"{timezone.localtime(self.gate_override_at):%Y-%m-%d %H:%M}"}


def analysed_findings() -> list[str]:
    """Every finding an analysis has made, sorted: the worklist's finding filter.

    SELECT DISTINCT read all 1,000,000 analyses (140 ms); this walks the (status, finding) index
    from one finding to the next instead (a "loose index scan", which neither SQLite nor
    PostgreSQL does on their own), so it costs a few lookups per distinct finding."""
    table = Analysis._meta.db_table
    sql = f"""
        WITH RECURSIVE found(finding) AS (
            SELECT MIN(finding) FROM {table} WHERE status = %s AND finding > ''
            UNION ALL
            SELECT (SELECT MIN(finding) FROM {table} WHERE status = %s AND finding > found.finding)
            FROM found WHERE found.finding IS NOT NULL
        )
        SELECT finding FROM found WHERE finding IS NOT NULL"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [AnalysisStatus.ANALYSED, AnalysisStatus.ANALYSED])
        return [row[0] for row in cursor.fetchall()]


class Review(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reviews")
    analysis = models.ForeignKey(Analysis, null=True, on_delete=models.SET_NULL, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ai_finding = models.CharField(max_length=64, blank=True)
    finding = models.CharField(max_length=64)
    agrees_with_ai = models.BooleanField()
    # What "Other abnormality" is, or why the film is "Not assessable".
    detail = models.CharField(max_length=300, blank=True)
    note = models.TextField(blank=True)
    signed_at = models.DateTimeField(default=timezone.now)
    # An addendum: a later, labelled read of the same study; the original stays as it was.
    amends = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="addenda")

    class Meta:
        ordering = ["-signed_at", "-id"]

    @property
    def is_addendum(self) -> bool:
        return self.amends_id is not None

    @property
    def finding_text(self) -> str:
        return f"{self.finding}: {self.detail}" if self.detail else self.finding

    def __str__(self) -> str:
        return f"Review of {self.study_id}: {self.finding}"


class ImportBatch(models.Model):
    """A screening day's folder imported in one go; resumable because every file is a row."""

    folder = models.CharField(max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey(Job, null=True, on_delete=models.SET_NULL, related_name="+")
    # The folder is listed by the worker, not in the web request (a big folder took 38 s there).
    scanned = models.BooleanField(default=True)
    # Nothing is stored until a person has seen the preview (file -> patient) and confirmed it.
    # Imports made before previews existed were confirmed by starting them.
    confirmed = models.BooleanField(default=True)
    # Files whose name is not a known patient ID go to this patient instead of new records.
    unknown_names_patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField(blank=True, help_text="why the import stopped, if it did")

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.folder}"


class ImportItemStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    STORED = "stored", _("Stored")
    DUPLICATE = "duplicate", _("Already stored")
    FAILED = "failed", _("Not stored")


class ImportItem(models.Model):
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(help_text="order of arrival (file time, then name)")
    path = models.CharField(max_length=1000)
    status = models.CharField(max_length=10, choices=ImportItemStatus.choices, default=ImportItemStatus.PENDING)
    message = models.TextField(blank=True)
    study = models.ForeignKey(Study, null=True, on_delete=models.SET_NULL, related_name="+")
    finished_at = models.DateTimeField(null=True)
    # Started but not finished: a file that takes the worker down is failed after a few tries
    # instead of failing the whole import.
    attempts = models.PositiveSmallIntegerField(default=0)
    # The preview: which patient the file will go to, and whether that record is new.
    planned_patient = models.CharField(max_length=64, blank=True)
    planned_source = models.CharField(max_length=10, blank=True, help_text="chosen, dicom or name")
    planned_new = models.BooleanField(default=False)

    class Meta:
        ordering = ["batch", "position"]
        indexes = [models.Index(fields=["batch", "status", "position"], name="import_item_todo")]

    def __str__(self) -> str:
        return self.path
