"""Fit the quality gate's appearance score and measure the whole gate.

    python -m app.ml.fit_quality_gate --data ../shared/datasets/cxr --data ../shared/datasets/nih-64 \
        --patient-id-regex '^(\d+)_' --report docs/quality-gate.json

Radiographs are split by patient (hash of the patient id): 80% fit the
principal subspace and the logistic regression, 20% are held out. Non-chest images come from
app/ml/gate_negatives.py. Because the negatives are few, their refusal rate is also measured by
grouped cross-validation: each fold leaves out whole groups (all crops of one photograph, all
noise, all screenshots...), so it measures images of a kind the score never saw.

Needs scikit-learn and scikit-image (requirements-dev.txt); the app itself needs only numpy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from app.inference.errors import InputError, QualityGateRefusal
from app.inference.image import LoadedImage
from app.inference.image_io import load_image
from app.inference.quality_gate import GATE_FILE, TRANSFORMS, AppearanceModel, QualityGate, descriptors
from app.ml.datasets import Sample, read_dataset
from app.ml.gate_negatives import Negative, all_negatives

COMPONENTS = 16
KEEP_POSITIVES_PERCENTILE = 1.25  # default: the threshold refuses 1.25% of the fitting radiographs (chosen: docs/quality-gate.md)
HELD_OUT_FRACTION = 0.2
CV_FOLDS = 5
SEED = 0


def held_out(sample: Sample) -> bool:
    """By patient, never by a dataset's own split (nih-64's shares patients between splits)."""
    digest = hashlib.sha256(sample.patient_id.encode()).digest()
    return digest[0] / 256 < HELD_OUT_FRACTION


def negative_group(negative: Negative) -> str:
    return "lfw" if negative.category == "face" else negative.name.split("-")[0]


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000).fit(scaler.transform(x), y)
    return scaler, model


def _appearance(
    shell: AppearanceModel, scaler: StandardScaler, model: LogisticRegression, xp: np.ndarray, fitted_on: str,
    refuse_percentile: float,
) -> AppearanceModel:
    positive_scores = model.decision_function(scaler.transform(xp))
    return AppearanceModel(
        pca_mean=shell.pca_mean,
        components=shell.components,
        scaler_mean=scaler.mean_,
        scaler_scale=scaler.scale_,
        coef=model.coef_[0],
        intercept=float(model.intercept_[0]),
        threshold=float(np.percentile(positive_scores, refuse_percentile)),
        fitted_on=fitted_on,
    )


def fit(
    positives: list[np.ndarray], negatives: list[Negative], fitted_on: str, refuse_percentile: float = KEEP_POSITIVES_PERCENTILE
) -> tuple[AppearanceModel, dict[str, Any]]:
    pca_inputs = np.stack([descriptors(p)["pca_input"] for p in positives])
    pca_mean = pca_inputs.mean(axis=0)
    _, _, vt = np.linalg.svd(pca_inputs - pca_mean, full_matrices=False)
    shell = AppearanceModel(pca_mean, vt[:COMPONENTS], np.zeros(1), np.ones(1), np.zeros(1), 0.0, 0.0)
    xp = np.stack([shell.features(p) for p in positives])
    xn = np.stack([shell.features(n.image.pixels) for n in negatives])

    # Grouped cross-validation: how often is a negative of an unseen group refused?
    groups = np.array([negative_group(n) for n in negatives])
    unique = np.unique(groups)
    np.random.default_rng(SEED).shuffle(unique)
    cv_refused = np.zeros(len(negatives), dtype=bool)
    for fold in np.array_split(unique, CV_FOLDS):
        test = np.isin(groups, fold)
        scaler, model = _logistic(np.vstack([xp, xn[~test]]), np.r_[np.ones(len(xp)), np.zeros((~test).sum())])
        fold_gate = QualityGate(_appearance(shell, scaler, model, xp, fitted_on, refuse_percentile))
        for index in np.flatnonzero(test):
            try:
                fold_gate.check(negatives[index].image)
            except QualityGateRefusal:
                cv_refused[index] = True

    scaler, model = _logistic(np.vstack([xp, xn]), np.r_[np.ones(len(xp)), np.zeros(len(xn))])
    appearance = _appearance(shell, scaler, model, xp, fitted_on, refuse_percentile)
    by_group = defaultdict(lambda: [0, 0])
    for group, refused in zip(groups, cv_refused, strict=True):
        by_group[group][0] += int(refused)
        by_group[group][1] += 1
    cv = {
        "negatives": len(negatives),
        "refused": int(cv_refused.sum()),
        "refused_rate": float(cv_refused.mean()),
        "by_group": {g: {"refused": r, "total": n} for g, (r, n) in sorted(by_group.items())},
        "note": "each negative judged by the whole gate (plain checks, score, orientation) fitted without its group",
    }
    return appearance, cv


def measure(gate: QualityGate, positives: list[tuple[str, str, LoadedImage]], negatives: list[Negative]) -> dict[str, Any]:
    refused: list[dict[str, str]] = []
    reoriented = 0
    for name, source, image in positives:
        try:
            reoriented += gate.check(image).transform != "identity"
        except QualityGateRefusal as exc:
            refused.append({"file": name, "source": source, "reason": exc.code})
    report: dict[str, Any] = {
        "radiographs": len(positives),
        "radiographs_refused": len(refused),
        "radiographs_refused_rate": len(refused) / max(len(positives), 1),
        "radiographs_wrongly_reoriented": reoriented,
        "refused_examples": refused[:15],
    }
    if negatives:
        by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for negative in negatives:
            by_category[negative.category][1] += 1
            try:
                gate.check(negative.image)
            except QualityGateRefusal:
                by_category[negative.category][0] += 1
        total = sum(n for _, n in by_category.values())
        refused_n = sum(r for r, _ in by_category.values())
        report.update(
            {
                "non_chest": total,
                "non_chest_refused": refused_n,
                "non_chest_refused_rate": refused_n / max(total, 1),
                "non_chest_by_category": {k: {"refused": r, "total": n} for k, (r, n) in sorted(by_category.items())},
            }
        )
    return report


def measure_orientation(gate: QualityGate, positives: list[tuple[str, str, LoadedImage]]) -> dict[str, Any]:
    """Turn held-out radiographs on their side, upside down or negative: are they put right?"""
    undo = {"rot90": 3, "rot180": 2, "rot270": 1}  # how far to rotate to *produce* each fault
    results: dict[str, dict[str, int]] = {}
    for fault in ("rot90", "rot180", "rot270", "inverted"):
        fixed = refused = 0
        for _, _, image in positives:
            pixels = (1.0 - image.pixels) if fault == "inverted" else np.rot90(image.pixels, k=undo[fault])
            faulty = LoadedImage(pixels=np.ascontiguousarray(pixels, dtype=np.float32), source_format="png", bits=8)
            try:
                fixed += gate.check(faulty).transform == fault
            except QualityGateRefusal:
                refused += 1
        results[fault] = {"corrected": fixed, "refused": refused, "total": len(positives)}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="CSV manifest or class folders (repeatable)")
    parser.add_argument("--out", type=Path, default=GATE_FILE)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--refuse-percentile", type=float, default=KEEP_POSITIVES_PERCENTILE, help="share (%%) of fitting radiographs the threshold refuses")
    parser.add_argument("--patient-id-regex", help="patient ids from file names where a dataset has no patient_id column")
    args = parser.parse_args(argv)

    samples = [s for location in args.data for s in read_dataset(location, args.patient_id_regex)]
    loaded: list[tuple[Sample, LoadedImage]] = []
    for sample in samples:
        try:
            loaded.append((sample, load_image(sample.path)))
        except InputError as exc:
            print(f"skipping {sample.path}: {exc}")
    fit_images = [img.pixels for s, img in loaded if not held_out(s)]
    held = [(s.path.name, s.source, img) for s, img in loaded if held_out(s)]
    negatives = all_negatives(SEED)
    sources = Counter(s.source for s, _ in loaded if not held_out(s))
    model, cv = fit(fit_images, negatives, ", ".join(f"{k}: {v}" for k, v in sorted(sources.items())), args.refuse_percentile)
    model.save(args.out)
    gate = QualityGate(model)
    held_cxr = [h for h in held if h[1] != "nih-chestxray14"]
    report = {
        "fit_radiographs": len(fit_images),
        "fitted_on": model.fitted_on,
        "threshold": model.threshold,
        "refuse_percentile": args.refuse_percentile,
        "held_out_all": measure(gate, held, negatives),
        "held_out_cxr_folder": measure(gate, held_cxr, []),
        "whole_cxr_folder_including_fit": measure(gate, [(s.path.name, s.source, i) for s, i in loaded if s.source != "nih-chestxray14"], []),
        "grouped_cv_negatives": cv,
        "orientation_on_held_out_cxr": measure_orientation(gate, held_cxr),
        "orientation_faults": list(TRANSFORMS)[1:],
    }
    text = json.dumps(report, indent=2)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
