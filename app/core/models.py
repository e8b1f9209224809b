from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.conf import settings
from django.db import models


class ClinicSettings(models.Model):
    """Site-wide settings edited by the administrator; a single row (pk=1)."""

    clinic_name = models.CharField(max_length=200)
    backup_folder = models.CharField(max_length=500, blank=True, help_text="for example a USB drive")
    daily_backup = models.BooleanField(default=False)
    backups_kept = models.PositiveSmallIntegerField(default=7)
    last_backup_at = models.DateTimeField(null=True, blank=True)
    last_backup_error = models.TextField(blank=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True, help_text="remove studies older than this; empty keeps them forever")
    import_folders = models.TextField(
        blank=True,
        help_text="folders a folder import may read from, one full path per line; removable media "
        "(/media, /run/media, /mnt, /Volumes) are always allowed",
    )
    session_idle_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(480)], help_text="log out after this many minutes without a click or key press"
    )
    # DICOM receiver (app/dicom/receiver.py); CXR_DICOM_PORT / CXR_DICOM_AE_TITLE override.
    dicom_port = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(104), MaxValueValidator(65535)])
    dicom_ae_title = models.CharField(max_length=16, blank=True, default="CXRWS")
    dicom_allowed_calling = models.TextField(blank=True)
    dicom_listen_on_network = models.BooleanField(default=False)
    # Where AI results go as DICOM (app/dicom/send.py).
    pacs_host = models.CharField(max_length=255, blank=True)
    pacs_port = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    pacs_ae_title = models.CharField(max_length=16, blank=True)
    pacs_send_automatically = models.BooleanField(default=False)
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en", help_text="for everyone who has not chosen their own")
    # Urgent findings (app/clinical/urgent.py): unreviewed AI positives that every radiologist's
    # page announces. Empty list: every positive finding of the active pack.
    urgent_findings = models.TextField(blank=True, help_text="one finding per line, as the model pack names it; empty: every positive finding")
    urgent_min_confidence = models.FloatField(default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "clinic settings"

    def __str__(self) -> str:
        return self.clinic_name

    @classmethod
    def current(cls) -> ClinicSettings | None:
        return cls.objects.filter(pk=1).first()


class UserPreference(models.Model):
    """What one person chose for themselves; blank means the clinic's default."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, blank=True)
    # Set when an administrator reset the password: the next page is "change your password".
    must_change_password = models.BooleanField(default=False)
