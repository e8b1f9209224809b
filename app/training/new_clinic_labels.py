"""Write the labels file of a "new clinic" for the site calibration's evaluation
(python -m app.analysis.site_calibration evaluate): adult NIH normals that the bundled pack never
trained on (its validation and test splits, recomputed exactly as training split them) and the
COVID-19 films of cxr/ (COVID-CXNet, Figure 1, Actualmed: collections never used in training).

    python -m app.training.new_clinic_labels --shared ../shared/datasets --out /tmp/new-clinic.csv

The normals come from a source the pack did see (other NIH films), the COVID-19 films from
collections it did not: a clinic whose films the pack half knows.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from app.training.build_bundled_pack import training_args
from app.training.datasets import Sample, read_dataset
from app.training.splits import split_samples
from app.training.train_pretrained import select_samples


def untrained_nih_normals(shared: Path) -> list[Sample]:
    parser = argparse.ArgumentParser()
    for name in ("--data",):
        parser.add_argument(name, type=Path, action="append")
    for name in ("--cap-source", "--map-label", "--exclude-label", "--exclude-source"):
        parser.add_argument(name, action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    args, _unknown = parser.parse_known_args(training_args(shared, Path("/nonexistent-cache"), Path("/nonexistent-out")))
    splits = split_samples(select_samples(args), seed=args.seed)
    return sorted((s for name in ("valid", "test") for s in splits[name] if s.source == "nih-cxr14" and s.label == "Normal"), key=lambda s: str(s.path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    shared = args.shared.resolve()
    rows = [{"file": str(s.path), "finding": "Normal", "patient": s.patient_id} for s in untrained_nih_normals(shared)]
    rows += [{"file": str(s.path), "finding": "COVID-19", "patient": s.patient_id} for s in read_dataset(shared / "cxr") if s.label == "COVID-19"]
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "finding", "patient"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{args.out}: {sum(r['finding'] == 'Normal' for r in rows)} normals, {sum(r['finding'] == 'COVID-19' for r in rows)} COVID-19 films")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
