"""The administrator's site calibration: propose from the signed reads, see the evidence,
activate (the next analysis uses it, the old results do not change), switch off; all audited."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from app.analysis.site_calibration.models import SiteProfileRecord
from app.audit.models import AuditEvent
from app.clinical.models import Analysis, Study
from app.clinical.reading import sign
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory
from tests.shared_data import CLASSES_4, a_radiograph, requires_shared
from tests.test_site_profile import CLASSES, clinic


def signed_clinic(radiologist, n_target: int = 60, n_normal: int = 40) -> list[Analysis]:  # noqa: ANN001
    probabilities, truths = clinic(n_target, n_normal)
    analyses = []
    for p, truth in zip(probabilities, truths):
        finding = CLASSES[int(np.argmax(p))]  # clinic() draws in CLASSES' order; the pack lists them in its own
        result = {
            "schema_version": 2, "status": "analysed", "classes": list(CLASSES_4), "pack": {"name": "tiny-test", "version": "0.0.1", "validated": False},
            "consensus": {"finding": finding, "confidence": float(p.max()), "probabilities": dict(zip(CLASSES, map(float, p))), "needs_review": False, "positive": finding != "Normal"},
            "members": [], "images": {}, "familiarity": {"distance": 1.0, "threshold": 2.0, "unfamiliar": False},
        }
        analysis = AnalysisFactory(finding=finding, pack_name="tiny-test", pack_version="0.0.1", result=result)
        sign(analysis.study, analysis, radiologist, finding=truth, note="" if truth == finding else "read")
        analyses.append(analysis)
    return analyses


@pytest.mark.usefixtures("tiny_pack_active")
class SiteCalibrationPageTestCase(BaseTestCase):
    def test_too_few_reads_are_explained(self) -> None:
        signed_clinic(self.radiologist, n_target=10, n_normal=40)
        self.client.login(username="alice", password=PASSWORD)
        r = self.client.post(reverse("site_calibration"), {"target": "COVID-19", "sensitivity": "0.9"})
        self.assertContains(r, "needs at least 30 signed reads of COVID-19", status_code=400)
        self.assertFalse(SiteProfileRecord.objects.exists())

    def test_propose_show_activate_and_switch_off(self) -> None:
        analyses = signed_clinic(self.radiologist)
        before = {a.pk: a.result for a in analyses}
        self.client.login(username="alice", password=PASSWORD)
        page = self.client.get(reverse("site_calibration"))
        self.assertContains(page, "100 signed reads")
        r = self.client.post(reverse("site_calibration"), {"target": "COVID-19", "sensitivity": "0.9"})
        record = SiteProfileRecord.objects.get()
        self.assertRedirects(r, reverse("site_profile", kwargs={"pk": record.pk}))
        self.assertFalse(record.active)
        evidence = self.client.get(reverse("site_profile", kwargs={"pk": record.pk}))
        self.assertContains(evidence, "Before: the pack's own finding")
        self.assertContains(evidence, "would have had another AI finding")
        self.client.post(reverse("site_profile_activate", kwargs={"pk": record.pk}))
        record.refresh_from_db()
        self.assertTrue(record.active)
        self.assertTrue(AuditEvent.objects.filter(summary="Site profile v1 activated for tiny-test 0.0.1").exists())
        # Old results and signed reads are untouched.
        self.assertEqual({a.pk: a.result for a in Analysis.objects.filter(pk__in=before)}, before)
        card = self.client.get(reverse("model_card"))
        self.assertContains(card, "site profile v1 is active")
        # A second proposal is version 2; switching off leaves none active.
        self.client.post(reverse("site_calibration"), {"target": "COVID-19", "sensitivity": "0.95"})
        self.assertEqual(sorted(SiteProfileRecord.objects.values_list("version", flat=True)), [1, 2])
        self.client.post(reverse("site_profile_retire"))
        self.assertFalse(SiteProfileRecord.objects.filter(active=True).exists())
        self.assertTrue(AuditEvent.objects.filter(summary__startswith="Site profiles switched off").exists())

    def test_a_profile_file_for_another_pack_is_refused(self) -> None:
        self.client.login(username="alice", password=PASSWORD)
        from app.inference.site_profile import SiteProfile

        profile = SiteProfile(pack_name="cxr-4class-lite", pack_version="3.0.0", classes=tuple(CLASSES_4), target="COVID-19",
                              weights=(1.0, 0.0, 0.0, 0.0), intercept=0.0, threshold=0.3)
        upload = SimpleUploadedFile("profile.json", str.encode(__import__("json").dumps(profile.to_dict())))
        r = self.client.post(reverse("site_profile_import"), {"profile": upload}, follow=True)
        self.assertContains(r, "was fitted for cxr-4class-lite 3.0.0")
        self.assertFalse(SiteProfileRecord.objects.exists())

    def test_only_administrators_calibrate(self) -> None:
        self.client.login(username="carol", password=PASSWORD)
        self.assertEqual(self.client.get(reverse("site_calibration")).status_code, 403)

    @requires_shared
    def test_the_next_analysis_uses_the_active_profile(self) -> None:
        signed_clinic(self.radiologist)
        self.client.login(username="alice", password=PASSWORD)
        self.client.post(reverse("site_calibration"), {"target": "COVID-19", "sensitivity": "0.9"})
        record = SiteProfileRecord.objects.get()
        self.client.post(reverse("site_profile_activate", kwargs={"pk": record.pk}))
        self.client.login(username="bob", password=PASSWORD)
        patient = Study.objects.first().patient
        self.client.post(reverse("upload"), {"patient": patient.pk, "files": [SimpleUploadedFile("new.jpg", a_radiograph().read_bytes())]})
        self.run_jobs()
        study = Study.objects.get(original_name="new.jpg")
        outcome = study.latest_analysis.outcome
        self.assertEqual(outcome.site_profile["version"], 1)
        self.assertEqual(set(outcome.pack_probabilities), set(CLASSES_4))
        self.assertContains(self.client.get(reverse("study_detail", kwargs={"pk": study.pk})), "this clinic's site profile v1")


@pytest.mark.usefixtures("tiny_pack_active")
class ImportSiteProfileCommandTestCase(BaseTestCase):
    def test_it_imports_and_activates_a_profile_file(self) -> None:
        import tempfile
        from pathlib import Path

        from django.core.management import call_command

        from app.inference.site_profile import SiteProfile

        profile = SiteProfile(pack_name="tiny-test", pack_version="0.0.1", classes=tuple(CLASSES_4), target="COVID-19",
                              weights=(1.0, 0.0, 0.0, 0.0), intercept=0.0, threshold=0.3)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "profile.json"
            profile.write(path)
            call_command("import_site_profile", str(path), "--activate")
        record = SiteProfileRecord.objects.get()
        self.assertTrue(record.active)
        self.assertEqual(record.source, "imported")
