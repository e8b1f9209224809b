"""Which films a training run uses: sources left out stay out (kept as collections never
trained on), caps keep a seeded subset, and label mappings apply per source."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from app.training.train_pretrained import select_samples


def write_manifest(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    """rows: (file, label, source); each file is created empty (only its existence is checked)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "source", "patient_id"])
        for i, (name, label, source) in enumerate(rows):
            (folder / name).touch()
            writer.writerow([name, label, source, f"p{i}"])
    return folder


def args(data: list[Path], **overrides: object) -> argparse.Namespace:
    values = {"data": data, "exclude_label": [], "exclude_source": [], "cap_source": [], "map_label": [], "seed": 0}
    values.update(overrides)
    return argparse.Namespace(**values)


def test_it_leaves_out_a_whole_source_and_keeps_the_others(tmp_path: Path) -> None:
    rows = [(f"a{i}.png", "COVID-19", "web") for i in range(5)] + [(f"b{i}.png", "COVID-19", "clinic") for i in range(4)]
    rows += [(f"c{i}.png", "Normal", "clinic") for i in range(3)] + [("d.png", "Inconclusive", "clinic")]
    folder = write_manifest(tmp_path / "cxr", rows)
    chosen = select_samples(args([folder], exclude_source=["web"]))
    assert Counter((s.source, s.label) for s in chosen) == {("clinic", "COVID-19"): 4, ("clinic", "Normal"): 3}


def test_caps_and_mappings_apply_to_their_source_only(tmp_path: Path) -> None:
    rows = [(f"n{i}.png", "Normal", "big") for i in range(10)] + [(f"m{i}.png", "Normal", "small") for i in range(3)]
    rows += [(f"p{i}.png", "Pneumonia", "big") for i in range(2)] + [(f"q{i}.png", "Pneumonia", "small") for i in range(2)]
    folder = write_manifest(tmp_path / "data", rows)
    chosen = select_samples(args([folder], cap_source=["big:Normal=4"], map_label=["big:Pneumonia=Lung Opacity"]))
    counts = Counter((s.source, s.label) for s in chosen)
    assert counts == {("big", "Normal"): 4, ("small", "Normal"): 3, ("big", "Lung Opacity"): 2, ("small", "Pneumonia"): 2}
    again = select_samples(args([folder], cap_source=["big:Normal=4"]))
    assert {s.path for s in chosen if s.label == "Normal"} == {s.path for s in again if s.label == "Normal"}  # seeded
