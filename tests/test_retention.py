from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from app.audit.models import AuditEvent
from app.clinical.models import Study
from app.core.models import ClinicSettings
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory


class RetentionTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        now = timezone.now()
        self.old_backed = AnalysisFactory().study
        self.old_unbacked = AnalysisFactory().study
        self.recent = AnalysisFactory().study
        Study.objects.filter(pk=self.old_backed.pk).update(uploaded_at=now - timedelta(days=400))
        Study.objects.filter(pk=self.old_unbacked.pk).update(uploaded_at=now - timedelta(days=380))
        ClinicSettings.objects.filter(pk=1).update(retention_days=365, last_backup_at=now - timedelta(days=390))
        for study in Study.objects.all():
            (settings.DATA_DIR.originals / study.stored_name).write_bytes(b"image")
        self.client.login(username="alice", password=PASSWORD)

    def test_nothing_goes_without_confirmation(self) -> None:
        page = self.client.get(reverse("retention"))
        self.assertContains(page, "2 studies are older than 365 days: 1 are in a backup, 1 have never been backed up")
        self.client.post(reverse("retention"), {"remove": "1", "confirm": "yes"})
        self.assertEqual(Study.objects.count(), 3)

    def test_it_removes_only_backed_up_expired_studies_and_their_files(self) -> None:
        self.client.post(reverse("retention"), {"remove": "1", "confirm": "REMOVE"})
        self.assertEqual(set(Study.objects.values_list("pk", flat=True)), {self.old_unbacked.pk, self.recent.pk})
        self.assertFalse((settings.DATA_DIR.originals / self.old_backed.stored_name).exists())
        self.assertTrue((settings.DATA_DIR.originals / self.old_unbacked.stored_name).exists())
        event = AuditEvent.objects.get(action="deleted")
        self.assertEqual(event.username, "alice")
        self.assertIn("removed by retention", event.summary)

    def test_the_administrator_can_include_never_backed_up_studies(self) -> None:
        self.client.post(reverse("retention"), {"remove": "1", "confirm": "REMOVE", "include_unbacked": "on"})
        self.assertEqual(list(Study.objects.values_list("pk", flat=True)), [self.recent.pk])
