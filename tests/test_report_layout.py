"""The PDF reads right: the radiologist's conclusion (and addenda) on page 1 before the AI's
result, the member table never split, "page X of Y" on every page, captions that say what the
picture is. Rendered to PNG (pdftoppm) for a person to look at in test-artifacts/reports/."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
from django.conf import settings
from django.urls import reverse
from PIL import Image
from pypdf import PdfReader

from app.clinical.models import Analysis
from app.clinical.reading import current_read, sign
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory
from tests.shared_data import REPO

ARTIFACTS = REPO / "test-artifacts" / "reports"
CLASSES = ["COVID-19", "Lung Opacity", "Normal", "Viral Pneumonia"]


def result_with(members: int, finding: str = "Lung Opacity") -> dict:
    probabilities = {c: (0.7 if c == finding else 0.1) for c in CLASSES}
    return {
        "schema_version": 2, "status": "analysed", "classes": CLASSES, "pack": {"name": "cxr-demo", "version": "1.0.0", "validated": False, "intended_use": "Demonstration."},
        "consensus": {"finding": finding, "confidence": 0.7, "probabilities": probabilities, "agreement": members, "members": members,
                      "agreement_text": f"{members} of {members} models", "needs_review": False, "review_reasons": [], "positive": True},
        "members": [{"name": f"member-{i + 1}", "prediction": finding, "probabilities": probabilities} for i in range(members)],
        "device": "CPU", "timings": {"total": 0.3}, "image": {"notes": []}, "images": {},
    }


class ReportLayoutTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.login(username="carol", password=PASSWORD)

    def report(self, analysis: Analysis, name: str) -> list[str]:
        folder = settings.DATA_DIR.derived / f"study-{analysis.study_id}" / "test"
        folder.mkdir(parents=True, exist_ok=True)
        yy, xx = np.mgrid[0:400, 0:330]
        Image.fromarray(((xx + yy) % 255).astype(np.uint8)).save(folder / "display.png")
        Image.fromarray(np.stack([((xx + yy) % 255).astype(np.uint8)] * 3, -1)).save(folder / "overlay.png")
        images = {k: (folder / f"{k}.png").relative_to(settings.DATA_DIR.root).as_posix() for k in ("display", "overlay")}
        Analysis.objects.filter(pk=analysis.pk).update(result={**analysis.result, "images": images})
        content = self.client.get(reverse("study_report", kwargs={"pk": analysis.study_id})).content
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}.pdf").write_bytes(content)
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "60", str(ARTIFACTS / f"{name}.pdf"), str(ARTIFACTS / name)], check=True, timeout=60)
        return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages]

    def assert_numbered(self, pages: list[str]) -> None:
        for number, text in enumerate(pages, start=1):
            self.assertIn(f"page {number} of {len(pages)}", text)

    def test_an_amended_read_comes_first_on_page_one(self) -> None:
        analysis = AnalysisFactory(finding="Lung Opacity", result=result_with(3))
        sign(analysis.study, analysis, self.radiologist, finding="Lung Opacity", note="Right lower zone.")
        sign(analysis.study, analysis, self.radiologist, finding="Other abnormality", detail="Right pleural effusion", note="Lateral shows fluid.",
             amends=current_read(analysis.study))
        pages = self.report(analysis, "layout-amended")
        first = pages[0]
        self.assertIn("Right pleural effusion", first)
        self.assertLess(first.index("Right pleural effusion"), " ".join(pages).index("Confidence 70%"))  # the read before the AI result
        self.assertLess(first.index("Addendum"), first.index("Original read"))
        self.assert_numbered(pages)

    def test_the_member_table_is_never_split(self) -> None:
        for members in (1, 8):
            analysis = AnalysisFactory(finding="Lung Opacity", result=result_with(members))
            pages = self.report(analysis, f"layout-{members}-members")
            holding = [i for i, text in enumerate(pages) if "member-1" in text]
            self.assertEqual(len(holding), 1, members)
            table_page = pages[holding[0]]
            self.assertIn(f"member-{members}", table_page)
            self.assertIn("Consensus", table_page)
            self.assertIn("Heatmap of the regions behind the AI finding Lung Opacity", " ".join(pages))
            self.assert_numbered(pages)

    def test_a_refused_film_is_captioned_as_refused(self) -> None:
        refused = {"schema_version": 2, "status": "refused", "code": "not_chest_radiograph", "reason": "This does not look like a chest radiograph.",
                   "advice": "Check the file.", "pack": {"name": "cxr-demo", "version": "1.0.0", "validated": False}}
        analysis = AnalysisFactory(status="refused", finding="", positive=False, result=refused, message="This does not look like a chest radiograph.")
        pages = self.report(analysis, "layout-refused")
        self.assertIn("Image refused by the quality gate: This does not look like a chest radiograph.", " ".join(pages))
        self.assertNotIn("Heatmap of the regions", " ".join(pages))
        self.assert_numbered(pages)
