"""Site profiles as versioned records: proposed (fitted on the signed reads, or imported from a
file), then activated by an administrator; at most one active per pack; never edited, so a result
that names "site profile v3" can always be traced to the numbers it used."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SiteProfileRecord(models.Model):
    pack_name = models.CharField(max_length=100)
    pack_version = models.CharField(max_length=40)
    version = models.PositiveIntegerField(help_text="1, 2, 3... per pack")
    profile = models.JSONField(help_text="app/inference/site_profile.py's format, evidence included")
    source = models.CharField(max_length=20, default="fitted", help_text="fitted here, or imported from a file")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "analysis"
        constraints = [
            models.UniqueConstraint(fields=["pack_name", "pack_version", "version"], name="site_profile_version"),
            models.UniqueConstraint(fields=["pack_name", "pack_version"], condition=models.Q(active=True), name="one_active_site_profile"),
        ]
        ordering = ["pack_name", "pack_version", "-version"]

    def __str__(self) -> str:
        return f"{self.pack_name} {self.pack_version} site profile v{self.version}"
