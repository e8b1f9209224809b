"""Read a labelled radiograph collection: a CSV manifest or a class-per-folder tree.

CSV: columns `file,label[,patient_id][,source]`, file paths relative to the CSV (the layout of
../shared/datasets/cxr/manifest.csv). Folders: one folder per class (COVID-19 Radiography
Database layout: COVID/, Normal/, Lung_Opacity/, Viral Pneumonia/), images directly inside or in
an images/ subfolder; masks/ folders are ignored.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom"}
log = logging.getLogger(__name__)

# Labels that say "we do not know": never trained or evaluated on.
IGNORED_LABELS = {"inconclusive", "unknown", "indeterminate", ""}
# Folder names of public collections mapped to this app's class names.
FOLDER_LABELS = {
    "covid": "COVID-19",
    "covid-19": "COVID-19",
    "normal": "Normal",
    "lung_opacity": "Lung Opacity",
    "lung opacity": "Lung Opacity",
    "viral pneumonia": "Viral Pneumonia",
    "viral_pneumonia": "Viral Pneumonia",
}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    patient_id: str
    source: str
    split: str = ""  # a split given by the dataset itself (nih-64), else ""


class DatasetError(Exception):
    pass


def read_dataset(location: str | Path, patient_id_regex: str | None = None, *, keep_unlabelled: bool = False) -> list[Sample]:
    r"""`keep_unlabelled`: keep images whose label says "we do not know" (Inconclusive...): they
    are still real radiographs, which is all the quality gate needs to know.

    `patient_id_regex`: where a collection has no patient_id column but encodes the patient in
    its file names (NIH ChestX-ray14: 00000231_013.png is patient 00000231, `^(\d+)_`), the first
    group of this pattern, matched against the file name, becomes the patient id."""
    location = Path(location)
    if location.is_file() and location.suffix.lower() == ".csv":
        samples = _read_csv(location, keep_unlabelled)
    elif location.is_dir() and (location / "manifest.csv").is_file():
        samples = _read_csv(location / "manifest.csv", keep_unlabelled)
    elif location.is_dir():
        samples = _read_folders(location)
    else:
        raise DatasetError(f"{location} is neither a CSV manifest nor a folder of class folders")
    if patient_id_regex:
        pattern = re.compile(patient_id_regex)
        samples = [_with_patient_from_name(s, pattern) for s in samples]
        unmatched = sum(s.patient_id.startswith("file:") for s in samples)
        if unmatched:
            log.warning("%d files in %s have no patient id; each counts as its own patient", unmatched, location)
    return samples


def _with_patient_from_name(sample: Sample, pattern: re.Pattern[str]) -> Sample:
    if not sample.patient_id.startswith("file:"):
        return sample  # an explicit patient_id column wins
    match = pattern.search(sample.path.name)
    return Sample(sample.path, sample.label, match.group(1), sample.source, sample.split) if match else sample


def _read_csv(path: Path, keep_unlabelled: bool = False) -> list[Sample]:
    samples: list[Sample] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"{path} needs at least the columns file,label")
        for line, row in enumerate(reader, start=2):
            label = (row.get("label") or "").strip()
            if label.lower() in IGNORED_LABELS and not keep_unlabelled:
                continue
            file = path.parent / row["file"]
            if not file.is_file():
                raise DatasetError(f"{path}:{line}: {row['file']} does not exist")
            samples.append(
                Sample(
                    path=file,
                    label=label,
                    patient_id=(row.get("patient_id") or "").strip() or f"file:{row['file']}",
                    source=(row.get("source") or "").strip() or path.parent.name,
                    split=(row.get("split") or "").strip(),
                )
            )
    return samples


def _read_folders(root: Path) -> list[Sample]:
    samples: list[Sample] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = FOLDER_LABELS.get(folder.name.lower(), folder.name)
        if label.lower() in IGNORED_LABELS:
            continue
        image_dir = folder / "images" if (folder / "images").is_dir() else folder
        for file in sorted(image_dir.iterdir()):
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                # Folder datasets carry no patient ids; each file counts as its own patient.
                samples.append(Sample(path=file, label=label, patient_id=f"file:{file.stem}", source=root.name))
    if not samples:
        raise DatasetError(f"no images found in class folders under {root}")
    return samples
