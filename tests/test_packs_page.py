"""Model packs page (administrators) and "About the model" (everyone): install, activate, roll
back, refuse damaged packs; the card rendered safely with its own images; workers switch packs
between jobs."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image

from app.analysis import engine_service
from app.analysis.packs import IMPORT_PACK
from app.audit.models import AuditEvent
from app.inference.packs import registry as pack_registry
from app.jobs.models import Job, JobState
from tests.base import PASSWORD, BaseTestCase

HOSTILE_CARD = """# Tiny test pack

Trained on nothing. <script>alert('card')</script>

| source | AUROC |
|---|---|
| held-out | 0.50 |

![roc](evaluation/roc.png)
![outside](http://10.255.255.1/track.png)
![escape](../../secret_key)
[a link out](http://example.invalid/) and <img src="/etc/passwd" onerror="alert(1)">
"""


@pytest.fixture
def pack_copy(tiny_pack_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The tiny pack as version 0.0.2 with a hostile model card and one plot."""
    folder = tmp_path / "tiny-0.0.2"
    shutil.copytree(tiny_pack_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = "0.0.2"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "MODEL_CARD.md").write_text(HOSTILE_CARD)
    (folder / "evaluation").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "evaluation" / "roc.png")
    request.cls.pack_copy = folder
    yield folder
    shutil.rmtree(settings.DATA_DIR.model_packs / "tiny-test-0.0.2", ignore_errors=True)
    (settings.DATA_DIR.model_packs / pack_registry.ACTIVE_FILE).unlink(missing_ok=True)
    engine_service.reset()


@pytest.mark.usefixtures("pack_copy")
class PacksPageTestCase(BaseTestCase):
    pack_copy: Path


    def install(self, activate: bool = False) -> Job:
        self.client.login(username="alice", password=PASSWORD)
        fields = {"source": str(self.pack_copy)} | ({"activate": "on"} if activate else {})
        self.assertRedirects(self.client.post(reverse("pack_import"), fields), reverse("pack_list"))
        self.run_jobs()
        return Job.objects.filter(kind=IMPORT_PACK).latest("id")

    def test_an_administrator_installs_activates_and_rolls_back_a_pack(self) -> None:
        job = self.install()
        self.assertEqual(job.state, JobState.SUCCEEDED, job.error)
        page = self.client.get(reverse("pack_list"))
        self.assertContains(page, "tiny-test 0.0.2")
        self.assertContains(page, "cxr-4class-lite")  # the bundled pack, still installed and active
        before = pack_registry.select_active(settings.DATA_DIR.model_packs)

        self.client.post(reverse("pack_activate"), {"name": "tiny-test", "version": "0.0.2"})
        self.assertEqual(pack_registry.select_active(settings.DATA_DIR.model_packs).version, "0.0.2")
        self.assertTrue(AuditEvent.objects.filter(summary__startswith="Model pack activated tiny-test 0.0.2").exists())
        self.assertContains(self.client.get(reverse("pack_list")), f"Roll back to {before.name} {before.version}")

        self.client.post(reverse("pack_rollback"))
        self.assertEqual(pack_registry.select_active(settings.DATA_DIR.model_packs).label, before.label)
        self.assertTrue(AuditEvent.objects.filter(summary__startswith=f"Model pack rolled back to {before.label}").exists())

    def test_the_worker_switches_pack_between_jobs_without_a_restart(self) -> None:
        self.install(activate=True)
        self.assertEqual(engine_service.get_engine().pack.label, "tiny-test 0.0.2")
        self.client.post(reverse("pack_rollback"))
        self.assertNotEqual(engine_service.get_engine().pack.label, "tiny-test 0.0.2")

    def test_a_damaged_zip_is_refused_with_the_reason_and_nothing_is_installed(self) -> None:
        self.client.login(username="alice", password=PASSWORD)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            for path in self.pack_copy.rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    if path.suffix == ".pt":
                        data = data[:-100] + b"\0" * 100  # damaged weights
                    zf.writestr(str(path.relative_to(self.pack_copy)), data)
        archive.seek(0)
        archive.name = "tiny.zip"
        self.client.post(reverse("pack_import"), {"archive": archive})
        self.run_jobs()
        job = Job.objects.filter(kind=IMPORT_PACK).latest("id")
        self.assertEqual(job.state, JobState.FAILED)
        self.assertIn("fails its checksum", job.error)
        self.assertFalse((settings.DATA_DIR.model_packs / "tiny-test-0.0.2").exists())
        self.assertEqual(list((settings.DATA_DIR.model_packs / ".uploads").iterdir()), [])  # the upload was removed
        self.assertContains(self.client.get(reverse("pack_list")), "fails its checksum")

        not_a_zip = io.BytesIO(b"PK\x03\x04 this is not really a zip")
        not_a_zip.name = "broken.zip"
        self.client.post(reverse("pack_import"), {"archive": not_a_zip})
        self.run_jobs()
        self.assertIn("not a readable zip archive", Job.objects.filter(kind=IMPORT_PACK).latest("id").error)

    def test_every_role_reads_the_model_card_rendered_safely(self) -> None:
        self.install()
        url = reverse("model_card_pack", kwargs={"name": "tiny-test", "version": "0.0.2"})
        for persona in self.personas.values():
            self.client.login(username=persona.username, password=PASSWORD)
            page = self.client.get(url)
            self.assertEqual(page.status_code, 200, persona.username)
            html = page.content.decode().split('<article class="model-card">')[1].split("</article>")[0]
            self.assertIn("<table>", html)
            self.assertIn(reverse("pack_file", kwargs={"name": "tiny-test", "version": "0.0.2", "path": "evaluation/roc.png"}), html)
            for banned in ("<script", "10.255.255.1", "secret_key", "/etc/passwd", "onerror", 'href="http'):
                self.assertNotIn(banned, html, persona.username)
            self.assertIn("a link out", html)
            self.assertContains(self.client.get(reverse("model_card")), "About the model")

    def test_only_the_cards_images_are_served_from_a_pack(self) -> None:
        self.install()
        self.client.login(username="bob", password=PASSWORD)

        def get(path: str) -> int:
            return self.client.get(reverse("pack_file", kwargs={"name": "tiny-test", "version": "0.0.2", "path": path})).status_code

        self.assertEqual(get("evaluation/roc.png"), 200)
        self.assertEqual(get("manifest.json"), 404)
        self.assertEqual(get("resnet18.pt"), 404)
        self.assertEqual(get("../../secret_key"), 404)


class ModelCardSummaryTestCase(BaseTestCase):
    def test_the_card_page_opens_with_a_one_screen_summary(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        page = self.client.get(reverse("model_card")).content.decode()
        self.assertIn("In short", page)
        self.assertIn("Collections never used in training", page)
        self.assertIn("<td>covid-cxnet</td><td>COVID-19</td><td>881</td>", page)
        self.assertIn("What it cannot do", page)
        self.assertLess(page.index("In short"), page.index('<article class="model-card">'))  # the full card folds below
        self.assertIn('<details class="full-card">', page)
