"""Evaluate a model pack on labelled data: per member and for the ensemble.

    python -m app.training.evaluate --pack bundled_models/cxr-covid3-lite --data ../shared/datasets/cxr \
        [--split test] [--map COVID-19=Abnormal] [--out DIR] [--record NAME]

Reports, per class: sensitivity, specificity, PPV, NPV and AUROC with bootstrap 95% intervals;
the confusion matrix; expected calibration error; macro AUROC and, per class, the sensitivity
at 90% specificity. A per-source table (each source and label, labels outside the pack's classes
included) shows what the pack answers on each kind of film. Saves ROC and reliability plots as PNG. The
pack is run exactly as the app runs it (same preprocessing, calibrated probabilities, consensus)
but without the quality gate, so every labelled image counts. --record NAME stores the report in
the pack's manifest under evaluation.NAME and rewrites MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.inference.consensus import combine, pack_thresholds
from app.inference.ensemble import Ensemble
from app.inference.packs.manifest import MANIFEST, ModelPack, read_manifest
from app.inference.preprocess import normalise
from app.training.tensors import load_prepared
from app.training.datasets import Sample, read_dataset
from app.training.metrics import full_report, roc_points
from app.training.splits import split_samples

BATCH = 32


def predict(pack: ModelPack, samples: list[Sample], device: str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, list[Sample]]:
    """labels (N,), per-member calibrated probabilities {name: (N, C)}, ensemble mean (N, C), the
    samples read. A label outside the pack's classes gets an index >= len(pack.classes)."""
    classes = list(pack.classes)
    others = sorted({s.label for s in samples} - set(classes))
    images, labels, kept = load_prepared(samples, pack.preprocessing, classes + others)
    ensemble = Ensemble(pack, device=device)
    first = pack.members[0]
    member_probs: dict[str, list[np.ndarray]] = {m.name: [] for m in pack.members}
    for start in range(0, len(images), BATCH):
        batch = normalise(images[start : start + BATCH], first.mean, first.std)
        for run in ensemble.run(batch, heatmap=False):
            member_probs[run.spec.name].append(run.probabilities)
    stacked = {name: np.concatenate(parts) if parts else np.zeros((0, len(classes))) for name, parts in member_probs.items()}
    mean = np.mean(list(stacked.values()), axis=0)
    return labels.numpy(), stacked, mean, kept


def evaluate(pack: ModelPack, samples: list[Sample], mapping: dict[str, str] | None = None, plots: Path | None = None, title: str = "") -> dict[str, Any]:
    mapped = [Sample(s.path, (mapping or {}).get(s.label, s.label), s.patient_id, s.source, s.split) for s in samples]
    all_labels, all_members, all_ensemble, kept = predict(pack, mapped)
    classes = list(pack.classes)
    by_source = per_source(pack, kept, all_labels, all_members, all_ensemble)
    inside = all_labels < len(classes)
    labels, ensemble = all_labels[inside], all_ensemble[inside]
    members = {name: probs[inside] for name, probs in all_members.items()}
    samples = [s for s, keep in zip(kept, inside, strict=True) if keep]
    dropped = dict(sorted(Counter(s.label for s, keep in zip(kept, inside, strict=True) if not keep).items()))
    report: dict[str, Any] = {
        "images": int(len(labels)),
        "label_mapping": mapping or {},
        "dropped_labels": dropped,
        "per_source": by_source,
        "sources": sorted({s.source for s in samples}),
        "counts": {c: int(np.sum(labels == i)) for i, c in enumerate(classes)},
    }
    if not len(labels):
        return report  # only labels outside the pack's classes: the per-source table says it all
    report["ensemble"] = full_report(labels, ensemble, classes)
    report["members"] = {name: full_report(labels, probs, classes) for name, probs in members.items()}
    if plots is not None:
        report["plots"] = save_plots(labels, members, ensemble, classes, plots, title, report["ensemble"]["reliability_bins"])
    return report


def per_source(pack: ModelPack, samples: list[Sample], labels: np.ndarray, members: dict[str, np.ndarray], ensemble: np.ndarray) -> list[dict[str, Any]]:
    """For each (source, label): how many, what the pack answered, how often it asked for review."""
    classes = pack.classes
    thresholds = pack_thresholds([m.thresholds for m in pack.members], classes)
    stacked = np.stack([members[m.name] for m in pack.members], axis=1)  # (N, members, C)
    groups: dict[tuple[str, str], list[int]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault((sample.source, sample.label), []).append(index)
    rows = []
    for (source, label), indices in sorted(groups.items()):
        predicted = ensemble[indices].argmax(axis=1)
        review = [combine(stacked[i], classes, pack.consensus, thresholds)["needs_review"] for i in indices]
        row: dict[str, Any] = {
            "source": source,
            "label": label,
            "n": len(indices),
            "predicted": {c: round(float(np.mean(predicted == k)), 4) for k, c in enumerate(classes)},
            "needs_review": round(float(np.mean(review)), 4),
        }
        if label in classes:
            row["correct"] = round(float(np.mean(predicted == classes.index(label))), 4)
        rows.append(row)
    return rows


def save_plots(
    labels: np.ndarray,
    members: dict[str, np.ndarray],
    ensemble: np.ndarray,
    classes: list[str],
    folder: Path,
    title: str,
    reliability_bins: list[dict[str, float]],
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    slug = title.lower().replace(" ", "-") or "evaluation"
    written = []
    fig, axes = plt.subplots(1, len(classes), figsize=(5 * len(classes), 4.6), squeeze=False)
    for index, name in enumerate(classes):
        ax = axes[0][index]
        for member, probs in members.items():
            points = roc_points(labels == index, probs[:, index])
            if points:
                ax.plot(*points, lw=1, alpha=0.6, label=member)
        points = roc_points(labels == index, ensemble[:, index])
        if points:
            ax.plot(*points, lw=2.5, color="black", label="ensemble")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        ax.set(title=f"{title} ROC: {name}", xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = folder / f"{slug}-roc.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)

    path = folder / f"{slug}-reliability.png"
    # The bins the reported ECE was computed from, so the picture and the number agree.
    plot_reliability(reliability_bins, path, title)
    written.append(path.name)
    return written


def plot_reliability(bins: list[dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.6))
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    widths = [(b["high"] - b["low"]) * 0.9 for b in bins]
    accuracy = [b["accuracy"] for b in bins]
    ax.bar(centres, accuracy, width=widths, color="#4ea1ff", edgecolor="black", label="ensemble accuracy")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
    for x, y, b in zip(centres, accuracy, bins, strict=True):
        ax.text(x, y + 0.02, str(b["count"]), ha="center", fontsize=7)
    ax.set(title=f"{title} reliability (n per bar)", xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.08))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def record(pack_dir: Path, name: str, report: dict[str, Any]) -> None:
    path = pack_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("evaluation", {})[name] = report
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    from app.training.model_card import write_model_card

    write_model_card(pack_dir)


def evaluate_and_record(pack_dir: Path, *, test: list[Sample], external: Path | None = None, external_map: dict[str, str] | None = None) -> None:
    pack = read_manifest(pack_dir)
    record(pack_dir, "test", evaluate(pack, test, plots=pack_dir / "evaluation", title="Held-out test"))
    if external is not None:
        samples = read_dataset(external)
        report = evaluate(read_manifest(pack_dir), samples, external_map, plots=pack_dir / "evaluation", title="External")
        report["data"] = str(external)
        record(pack_dir, "external", report)


def from_training_run(samples: list[Sample], listing: Path, split: str) -> list[Sample]:
    """The images a training run put in `split` (its samples.json), in the dataset's own records."""
    wanted = {Path(e["file"]).resolve() for e in json.loads(listing.read_text(encoding="utf-8")) if split == "all" or e["split"] == split}
    chosen = [s for s in samples if s.path.resolve() in wanted]
    if len(chosen) != len(wanted):
        raise SystemExit(f"{listing} lists {len(wanted)} {split} images, {len(chosen)} of them are in the dataset")
    return chosen


def select(samples: list[Sample], labels: list[str] | None, sources: list[str] | None, not_in: Path | None, limit: int | None, seed: int) -> list[Sample]:
    if labels:
        samples = [s for s in samples if s.label in labels]
    if sources:
        samples = [s for s in samples if s.source in sources]
    if not_in:
        used = {Path(entry["file"]).resolve() for entry in json.loads(not_in.read_text(encoding="utf-8"))}
        samples = [s for s in samples if s.path.resolve() not in used]
    if limit and len(samples) > limit:
        samples = sorted(random.Random(seed).sample(samples, limit), key=lambda s: str(s.path))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", required=True, type=Path)
    parser.add_argument("--data", required=True, type=Path, action="append", help="a labelled collection (repeatable)")
    parser.add_argument("--split", choices=["train", "valid", "test", "all"], default="all")
    parser.add_argument("--map", action="append", default=[], help="relabel FROM=TO")
    parser.add_argument("--seed", type=int, default=0, help="split seed (as used in training)")
    parser.add_argument("--out", type=Path, help="folder for the plots (default: <pack>/evaluation)")
    parser.add_argument("--record", help="store the report in the manifest under this name")
    parser.add_argument("--label", action="append", help="evaluate only images with this label (repeatable)")
    parser.add_argument("--source", action="append", help="evaluate only images from this source (repeatable)")
    parser.add_argument("--from-samples", type=Path, help="samples.json of a training run: its --split, exactly as trained")
    parser.add_argument("--not-in", type=Path, help="samples.json from training: leave out every image listed there")
    parser.add_argument("--limit", type=int, help="a seeded random sample of at most N images")
    parser.add_argument("--title", help="the heading of this evaluation in the model card")
    parser.add_argument("--describe", help="what this evaluation is, for the model card")
    args = parser.parse_args(argv)
    from app.training.train import parse_mapping

    torch.set_grad_enabled(False)
    pack = read_manifest(args.pack)
    samples = [s for data in args.data for s in read_dataset(data)]
    if args.from_samples:
        samples = from_training_run(samples, args.from_samples, args.split)
    elif args.split != "all":
        samples = split_samples(samples, seed=args.seed)[args.split]
    samples = select(samples, args.label, args.source, args.not_in, args.limit, args.seed)
    report = evaluate(pack, samples, parse_mapping(args.map), plots=args.out or args.pack / "evaluation", title=args.record or args.split)
    report["data"] = ", ".join(f"{d.name}/" for d in args.data)  # collection names only: no path of the build machine
    report["selection"] = {"split": args.split, "labels": args.label, "sources": args.source, "not_in": "the training run's samples" if args.not_in else None, "limit": args.limit, "seed": args.seed}
    if args.describe:
        report["description"] = args.describe
    if args.title:
        report["title"] = args.title
    if args.record:
        record(args.pack, args.record, report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
