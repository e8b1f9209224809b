"""Fit and measure the quality gate's "whole chest" check (app/inference/chest_coverage.py).

    python -m app.training.fit_chest_coverage --data ../shared/datasets/covid-radiography \
        --data ../shared/datasets/nih-adult --external ../shared/datasets/cxr [--per-group 400]

Whole frontal films (and, so that a tight collimation still passes, gently cropped copies that
keep 85-100% of each side) against part-films cut from the same films: a quarter, one half (one
lung), the upper or lower half, the top 50-65% (a film cut off above the lung bases), an
off-centre window of a third to a half of each side. Patients are split 70/15/15. Two thresholds
(app/inference/chest_coverage.py): results of films scoring under --review-percent of the
validation split's whole films need review; films scoring under --refuse-parts-percent of its
part-films are refused. The test split and the --external collections (never fitted on) measure
both for whole films and for part-films.
Writes app/inference/chest_coverage.npz and docs/chest-coverage.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.inference.chest_coverage import COVERAGE_FILE, CoverageCheck, save_coverage
from app.inference.embedding_classifier import EmbeddingClassifier
from app.inference.io.files import load_image
from app.inference.quality_gate import OnnxEmbedder, backbone_onnx_sha256
from app.training.collection_augment import degrade
from app.training.datasets import Sample, read_dataset
from app.training.splits import split_samples

log = logging.getLogger("fit_chest_coverage")

REPO = Path(__file__).resolve().parent.parent.parent
COMPONENTS = 64
BATCH = 32

Crop = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _part(img: np.ndarray, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    h, w = img.shape
    return img[int(h * top) : max(int(h * bottom), int(h * top) + 8), int(w * left) : max(int(w * right), int(w * left) + 8)]


def quarter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    top, left = rng.integers(0, 2, 2) * 0.5
    return _part(img, top, top + 0.5, left, left + 0.5)


def one_half(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    left = float(rng.integers(0, 2)) * 0.5
    return _part(img, 0, 1, left, left + 0.5)


def upper_or_lower(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    top = float(rng.integers(0, 2)) * 0.5
    return _part(img, top, top + 0.5, 0, 1)


def cut_above_bases(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _part(img, 0, rng.uniform(0.5, 0.65), 0, 1)


def window(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side_h, side_w = rng.uniform(0.33, 0.5, 2)
    top, left = rng.uniform(0, 1 - side_h), rng.uniform(0, 1 - side_w)
    return _part(img, top, top + side_h, left, left + side_w)


def gentle(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Still the whole chest: 85-100% of each side (as collimation and exports vary)."""
    sh, sw = rng.uniform(0.85, 1.0, 2)
    top, left = rng.uniform(0, 1 - sh), rng.uniform(0, 1 - sw)
    return _part(img, top, top + sh, left, left + sw)


def degraded(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Still the whole chest, as another collection would have made it (resolution, blur, noise,
    JPEG, exposure, text, borders): the check must not learn the training collections."""
    return degrade(img, rng)


PARTS: dict[str, Crop] = {"quarter": quarter, "one_half": one_half, "upper_or_lower": upper_or_lower, "cut_above_bases": cut_above_bases, "window": window}


def embed_views(embedder: OnnxEmbedder, samples: list[Sample], seed: int, cache: Path | None = None) -> dict[str, np.ndarray]:
    """{"whole": (N, 1280), "gentle": ..., one entry per part: ...} for the films given (cached
    under `cache` when given: refitting the threshold then costs no network pass)."""
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            if len(data["whole"]) == len(samples):
                return {k: data[k] for k in data.files}
    views: dict[str, list[np.ndarray]] = defaultdict(list)
    kinds: dict[str, Crop | None] = {"whole": None, "gentle": gentle, "degraded": degraded, **PARTS}
    for start in range(0, len(samples), BATCH):
        pixels = [load_image(s.path).pixels for s in samples[start : start + BATCH]]
        for kind, crop in kinds.items():
            images = [p if crop is None else crop(p, np.random.default_rng([seed, start + i, len(kind)])) for i, p in enumerate(pixels)]
            views[kind].append(embedder.embed(images))
        log.info("embedded %d/%d films", min(start + BATCH, len(samples)), len(samples))
    out = {k: np.concatenate(v) for k, v in views.items()}
    if cache is not None:
        np.savez(cache, **out)
    return out


def fit_classifier(views: dict[str, np.ndarray]) -> EmbeddingClassifier:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    positives = np.concatenate([views["whole"], views["gentle"], views["degraded"]])
    negatives = np.concatenate([views[k] for k in PARTS])
    x = np.concatenate([positives, negatives])
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    pca = PCA(COMPONENTS, random_state=0).fit(x)
    reduced = pca.transform(x)
    scaler = StandardScaler().fit(reduced)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(scaler.transform(reduced), y)
    return EmbeddingClassifier(pca.mean_, pca.components_, scaler.mean_, scaler.scale_, model.coef_[0], float(model.intercept_[0]), threshold=0.0)


def shares(check: CoverageCheck, embeddings: np.ndarray) -> dict[str, float]:
    scores = check.classifier.score(embeddings)
    return {"refused": round(float(np.mean(scores < check.refuse_below)), 4), "refused_or_flagged": round(float(np.mean(scores < check.review_below)), 4)}


def measure(check: CoverageCheck, views: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"films": len(views["whole"]), "whole": shares(check, views["whole"]), "gentle_crop": shares(check, views["gentle"]),
            "degraded": shares(check, views["degraded"]), "parts": {k: shares(check, views[k]) for k in PARTS},
            "all_parts": shares(check, np.concatenate([views[k] for k in PARTS]))}


def per_group(samples: list[Sample], limit: int, seed: int) -> list[Sample]:
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(s.source, s.label)].append(s)
    rng = random.Random(seed)
    return [s for key in sorted(groups) for s in (rng.sample(groups[key], limit) if len(groups[key]) > limit else groups[key])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--external", type=Path, action="append", default=[])
    parser.add_argument("--per-group", type=int, default=400, help="at most this many films of each source and label")
    parser.add_argument("--review-percent", type=float, default=1.0, help="share of validation whole films flagged for review (or refused)")
    parser.add_argument("--refuse-parts-percent", type=float, default=25.0, help="share of validation part-films refused outright")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, help="folder for the embeddings (a rerun refits without recomputing them)")
    parser.add_argument("--out", type=Path, default=COVERAGE_FILE)
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "chest-coverage.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    embedder = OnnxEmbedder(sha256=backbone_onnx_sha256())
    samples = per_group([s for folder in args.data for s in read_dataset(folder)], args.per_group, args.seed)
    splits = split_samples(samples, seed=args.seed)
    cache = args.cache
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    views = {name: embed_views(embedder, items, args.seed, cache and cache / f"coverage-{name}.npz") for name, items in splits.items()}
    classifier = fit_classifier(views["train"])
    classifier.threshold = float(np.percentile(classifier.score(views["valid"]["whole"]), args.review_percent))
    valid_parts = classifier.score(np.concatenate([views["valid"][k] for k in PARTS]))
    check = CoverageCheck(classifier, refuse_below=min(float(np.percentile(valid_parts, args.refuse_parts_percent)), classifier.threshold))
    report: dict[str, Any] = {
        "command": "python -m app.training.fit_chest_coverage " + " ".join(argv if argv is not None else sys.argv[1:]),
        "fitted_on": {name: len(items) for name, items in splits.items()},
        "sources": sorted({s.source for s in samples}),
        "thresholds": {"refuse_below": round(check.refuse_below, 3), "review_below": round(check.review_below, 3)},
        "test": measure(check, views["test"]),
        "external": {},
    }
    for folder in args.external:
        external = per_group(read_dataset(folder, keep_unlabelled=True), args.per_group, args.seed)
        by_source: dict[str, list[Sample]] = defaultdict(list)
        for s in external:
            by_source[s.source].append(s)
        for source, items in sorted(by_source.items()):
            report["external"][source] = measure(check, embed_views(embedder, items, args.seed, cache and cache / f"coverage-external-{source}.npz"))
    save_coverage(args.out, check, fitted_on=", ".join(report["sources"]))
    args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
