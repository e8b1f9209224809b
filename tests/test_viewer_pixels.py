"""The viewer's full-depth pixels: a 12-bit DICOM's stored values (after the Modality LUT) reach
the browser as 16-bit codes, with the file's own window and presets; two stored values that one
8-bit display level merges stay apart."""

from __future__ import annotations

import json

import numpy as np
from django.urls import reverse

from app.clinical.models import Study
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory
from tests.dicom_samples import twelve_bit_chest


class ViewerPixelsTestCase(BaseTestCase):
    def test_a_12_bit_film_keeps_its_depth_and_window(self) -> None:
        analysis = AnalysisFactory()
        study = analysis.study
        dataset = twelve_bit_chest()
        Study.objects.filter(pk=study.pk).update(file_format="dicom", stored_name=study.sha256 + ".dcm")
        study.refresh_from_db()
        dataset.save_as(study.path, enforce_file_format=True)
        self.client.login(username="carol", password=PASSWORD)
        r = self.client.get(reverse("study_pixels", kwargs={"pk": study.pk}))
        self.assertEqual(r.status_code, 200)
        meta = json.loads(r["X-Viewer-Meta"])
        codes = np.frombuffer(b"".join(r.streaming_content), dtype="<u2").reshape(meta["height"], meta["width"])
        values = meta["offset"] + codes * meta["step"]
        stored = dataset.pixel_array.astype(float) * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
        self.assertTrue(np.allclose(values, stored, atol=meta["step"]))
        # Neighbouring stored values, one 8-bit level apart on the full range, stay distinct.
        self.assertEqual(len(np.unique(codes[0, :16])), 16)
        self.assertEqual(meta["presets"][0], {"name": "LUNG", "centre": float(dataset.WindowCenter), "width": float(dataset.WindowWidth), "file": True})
        self.assertEqual(meta["default"], "LUNG")
        self.assertEqual({p["name"] for p in meta["presets"][1:]}, {"lung", "mediastinum", "bone", "full"})
        self.assertFalse(meta["invert"])
