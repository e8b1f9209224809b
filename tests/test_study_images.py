"""The result's images are found wherever the data directory now lives (a backup restored into
another folder), and nothing outside the derived-images folder is ever served."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.urls import reverse
from PIL import Image

from app.clinical.models import Analysis
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory


class StudyImagesTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.analysis = AnalysisFactory()
        self.folder = settings.DATA_DIR.derived / f"study-{self.analysis.study_id}" / f"analysis-{self.analysis.pk}"
        self.folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 90, np.uint8)).save(self.folder / "heatmap.png")
        self.client.login(username="bob", password=PASSWORD)

    def name_image(self, stored: str) -> int:
        Analysis.objects.filter(pk=self.analysis.pk).update(result={**self.analysis.result, "images": {"heatmap": stored}})
        return self.client.get(reverse("study_image", kwargs={"pk": self.analysis.study_id, "kind": "heatmap"})).status_code

    def test_an_image_named_relative_to_the_data_directory_is_served(self) -> None:
        relative = (self.folder / "heatmap.png").relative_to(settings.DATA_DIR.root).as_posix()
        self.assertEqual(self.name_image(relative), 200)

    def test_an_absolute_name_from_the_data_directory_a_backup_came_from_still_works(self) -> None:
        relative = (self.folder / "heatmap.png").relative_to(settings.DATA_DIR.root)
        self.assertEqual(self.name_image(f"/home/old-clinic/CXRWorkstation/{relative.as_posix()}"), 200)

    def test_nothing_outside_the_derived_images_is_served(self) -> None:
        for stored in ("/etc/passwd", "../../secret_key", "images/derived/../../secret_key", "secret_key"):
            self.assertEqual(self.name_image(stored), 404, stored)
