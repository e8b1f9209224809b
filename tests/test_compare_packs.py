"""A second opinion from another installed pack: shown beside the study's own result, which it
never replaces (review, report and exports keep the study's own)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from app.audit.models import AuditEvent
from app.clinical.models import Patient, Study
from app.inference.packs.install import import_pack
from tests.base import PASSWORD, BaseTestCase
from tests.shared_data import a_radiograph, requires_shared


@pytest.fixture
def second_pack(tiny_pack_dir: Path, tmp_path: Path):  # noqa: ANN201
    """The tiny pack again as version 0.0.3: another installed pack to compare with."""
    folder = tmp_path / "tiny-0.0.3"
    shutil.copytree(tiny_pack_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = "0.0.3"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    import_pack(folder, settings.DATA_DIR.model_packs)
    yield
    shutil.rmtree(settings.DATA_DIR.model_packs / "tiny-test-0.0.3", ignore_errors=True)


@requires_shared
@pytest.mark.usefixtures("tiny_pack_active", "second_pack")
class ComparePacksTestCase(BaseTestCase):

    def test_a_second_pack_gives_an_opinion_beside_the_studys_own(self) -> None:
        self.client.login(username="carol", password=PASSWORD)
        patient = Patient.objects.create(patient_id="RFC-7")
        self.client.post(reverse("upload"), {"patient": patient.pk, "files": [SimpleUploadedFile("cxr.jpg", a_radiograph().read_bytes())]})
        self.run_jobs()
        study = Study.objects.get()
        own = study.latest_analysis
        self.assertEqual((own.status, own.pack_version), ("analysed", "0.0.1"))
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertContains(page, 'value="tiny-test@0.0.3"')
        self.assertNotContains(page, 'value="tiny-test@0.0.1"')  # not the pack that made the result

        self.client.post(reverse("study_compare", kwargs={"pk": study.pk}), {"pack": "tiny-test@0.0.3"})
        self.run_jobs()
        study.refresh_from_db()
        self.assertEqual(study.latest_analysis_id, own.id)  # the study's own result stays
        second = study.analyses.exclude(pk=own.pk).get()
        self.assertEqual((second.status, second.pack_name, second.pack_version, second.compared_pack), ("analysed", "tiny-test", "0.0.3", "tiny-test@0.0.3"))
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk})).content.decode()
        self.assertIn("Other packs on this film", page)
        comparisons = page.split('id="comparisons"')[1]
        self.assertIn("tiny-test 0.0.3", comparisons)
        self.assertIn(second.result["consensus"]["finding"], comparisons)
        self.assertTrue(AuditEvent.objects.filter(summary__contains="analysed again with tiny-test 0.0.3 for comparison").exists())
        # The report and the worklist still speak of the study's own result.
        self.assertEqual(json.loads(self.client.get(reverse("study_json", kwargs={"pk": study.pk})).content)["ai"]["result"]["pack"]["version"], "0.0.1")

    def test_it_refuses_a_pack_that_is_not_installed(self) -> None:
        from tests.clinical_factories import AnalysisFactory

        study = AnalysisFactory().study
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.post(reverse("study_compare", kwargs={"pk": study.pk}), {"pack": "nothing@9"}, follow=True)
        self.assertContains(r, "That model pack is not installed.")
        self.assertEqual(study.analyses.count(), 1)


@pytest.mark.usefixtures("second_pack")
class CompareManyTestCase(BaseTestCase):
    def test_the_studies_a_worklist_shows_get_a_second_opinion_each(self) -> None:
        from tests.clinical_factories import AnalysisFactory

        shown = [AnalysisFactory(finding="Abnormal").study for _ in range(3)]
        AnalysisFactory(finding="Normal")  # filtered out below
        self.client.login(username="bob", password=PASSWORD)
        self.assertContains(self.client.get(reverse("worklist")), "Compare these studies with another pack")
        r = self.client.post(reverse("worklist_compare"), {"finding": "Abnormal", "pack": "tiny-test@0.0.3"})
        self.assertRedirects(r, reverse("worklist") + "?finding=Abnormal", fetch_redirect_response=False)
        compared = Study.objects.filter(analyses__compared_pack="tiny-test@0.0.3").distinct()
        self.assertEqual(set(compared), set(shown))
        for study in shown:
            study.refresh_from_db()
            self.assertEqual(study.latest_analysis.compared_pack, "")  # the study's own result stays
        self.assertTrue(AuditEvent.objects.filter(summary="3 studies queued for comparison with tiny-test 0.0.3").exists())
        r = self.client.post(reverse("worklist_compare"), {"pack": "nothing@1"}, follow=True)
        self.assertContains(r, "That model pack is not installed.")
