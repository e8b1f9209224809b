from __future__ import annotations

from collections import Counter
from pathlib import Path

from app.training.datasets import read_dataset
from app.training.splits import split_samples
from tests.ml_data import write_class_folders
from tests.shared_data import CXR, requires_shared


def patients_by_split(splits) -> dict[str, set[str]]:
    return {name: {s.patient_id for s in items} for name, items in splits.items()}


@requires_shared
def test_a_split_never_shares_a_patient_and_ignores_inconclusive() -> None:
    samples = read_dataset(CXR)
    assert "Inconclusive" not in {s.label for s in samples}
    assert len(samples) == 951  # 973 minus 22 inconclusive
    splits = split_samples(samples, seed=0)
    patients = patients_by_split(splits)
    assert not patients["train"] & patients["valid"]
    assert not patients["train"] & patients["test"]
    assert not patients["valid"] & patients["test"]
    # Stratified: every class with enough patients appears in every split.
    for name in ("train", "valid", "test"):
        assert {"COVID-19", "Normal"} <= {s.label for s in splits[name]}
    # Patients with several images exist in this collection, so the check above is not vacuous.
    assert max(Counter(s.patient_id for s in samples).values()) > 1


def test_it_reads_class_folders_and_maps_their_names(tmp_path: Path) -> None:
    samples = read_dataset(write_class_folders(tmp_path, per_class=3))
    assert Counter(s.label for s in samples) == {"Normal": 3, "Lung Opacity": 3}
    assert all("masks" not in s.path.parts for s in samples)


def test_the_same_seed_gives_the_same_split(tmp_path: Path) -> None:
    samples = read_dataset(write_class_folders(tmp_path, per_class=10))
    a = patients_by_split(split_samples(samples, seed=3))
    b = patients_by_split(split_samples(samples, seed=3))
    c = patients_by_split(split_samples(samples, seed=4))
    assert a == b
    assert a != c
