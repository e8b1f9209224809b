"""Patient-level, class-stratified train/validation/test splits.

A patient's images always land in one split (no leakage through near-identical images). When the
dataset brings its own split column, that split is used as given only if it keeps every patient
in one split; otherwise it is ignored (with a warning) and the data is split here. (nih-64's own
split puts 30 of its 264 patients in two splits, so it is re-split.)
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict

from app.training.datasets import Sample

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
DATASET_SPLIT_NAMES = {"train": "train", "training": "train", "valid": "valid", "val": "valid", "validation": "valid", "test": "test"}


class SplitError(Exception):
    pass


def split_samples(samples: list[Sample], *, valid: float = 0.15, test: float = 0.15, seed: int = 0) -> dict[str, list[Sample]]:
    given = {DATASET_SPLIT_NAMES.get(s.split.lower()) for s in samples}
    if None not in given and given >= {"train", "valid"}:
        out: dict[str, list[Sample]] = {name: [] for name in SPLITS}
        for sample in samples:
            out[DATASET_SPLIT_NAMES[sample.split.lower()]].append(sample)
        try:
            _check_no_shared_patient(out)
            return out
        except SplitError as exc:
            log.warning("Ignoring the dataset's own split: %s", exc)

    # Group by patient; a patient's label for stratification is their most common label.
    by_patient: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_patient[sample.patient_id].append(sample)
    by_label: dict[str, list[str]] = defaultdict(list)
    for patient, items in sorted(by_patient.items()):
        label = Counter(s.label for s in items).most_common(1)[0][0]
        by_label[label].append(patient)

    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    for label in sorted(by_label):
        patients = by_label[label]
        rng.shuffle(patients)
        n = len(patients)
        n_test = round(n * test)
        n_valid = round(n * valid)
        if n >= 3:  # every class gets at least one patient in each split when it can
            n_test, n_valid = max(n_test, 1), max(n_valid, 1)
        for i, patient in enumerate(patients):
            assignment[patient] = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
    out = {name: [] for name in SPLITS}
    for sample in samples:
        out[assignment[sample.patient_id]].append(sample)
    _check_no_shared_patient(out)
    return out


def _check_no_shared_patient(splits: dict[str, list[Sample]]) -> None:
    seen: dict[str, str] = {}
    for name, items in splits.items():
        for sample in items:
            other = seen.setdefault(sample.patient_id, name)
            if other != name:
                raise SplitError(f"patient {sample.patient_id!r} appears in both {other} and {name}")


def uses_given_split(samples: list[Sample], splits: dict[str, list[Sample]]) -> bool:
    return all(DATASET_SPLIT_NAMES.get(s.split.lower()) == name for name, items in splits.items() for s in items)


def describe(splits: dict[str, list[Sample]]) -> dict[str, dict[str, int]]:
    return {name: dict(sorted(Counter(s.label for s in items).items())) for name, items in splits.items()}
