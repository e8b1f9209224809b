"""Paths to the public datasets beside the clone (../shared/datasets), and skips when absent."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
CXR = SHARED / "cxr"
NIH64 = SHARED / "nih-64"
DICOM_DIR = SHARED / "dicom"
DICOM_MONO2 = DICOM_DIR / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
DICOM_MONO1 = DICOM_DIR / "Fake_MONOHR1.dcm"
CLASSES_4 = ["COVID-19", "Normal", "Viral Pneumonia", "Lung Opacity"]

requires_shared = pytest.mark.skipif(
    not (CXR / "manifest.csv").is_file() or not DICOM_MONO2.is_file(),
    reason="needs the public chest X-ray datasets in ../shared/datasets (present in CI, not in a bare clone)",
)


def cxr_files(limit: int | None = None, step: int = 1) -> list[Path]:
    with (CXR / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    files = [CXR / row["file"] for row in rows[::step]]
    return files[:limit] if limit else files


def a_radiograph() -> Path:
    return cxr_files(limit=1)[0]


COVID_RADIOGRAPHY = SHARED / "covid-radiography"
requires_covid_radiography = pytest.mark.skipif(
    not (COVID_RADIOGRAPHY / "manifest.csv").is_file(),
    reason="needs ../shared/datasets/covid-radiography (present in CI, not in a bare clone)",
)
