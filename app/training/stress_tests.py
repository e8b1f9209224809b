"""Does a pack see disease, or the collection? The checks the model card must carry.

    python -m app.training.stress_tests --pack bundled_models/cxr-4class-lite --cache CACHE [--record]

All on films of patients the pack never trained on (the training run's test split, CACHE/samples.json):

- same_source: pneumonia against normal inside one source (NIH adults; Kermany children), where
  nothing but the lungs separates the labels: AUROC of P(not Normal) with a bootstrap interval,
  and at the pack's own decision the share of pneumonia films not called Normal and of normals
  called Normal.
- resolution: the held-out normals (and COVID-19 films) of every source reduced to a short side
  of 512, 224, 160, 128, 96 and 64 px: the share called COVID-19 by the pack alone, and by the app
  (which refuses films under the quality gate's minimum as too small to read).
- crops: a quarter, one lung (half) and the lower half of held-out films through the whole app
  (quality gate, pack, review rules): the share refused or flagged for review.

--record stores the report under evaluation.stress_tests in the manifest (the model card shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.inference.consensus import combine
from app.inference.engine import Engine
from app.inference.errors import QualityGateRefusal
from app.inference.io.files import load_image
from app.inference.io.image import LoadedImage
from app.inference.packs.manifest import read_manifest
from app.inference.preprocess import prepare, to_batch
from app.inference.quality_gate import MIN_READABLE_SIDE
from app.training.evaluate import record
from app.training.train_pretrained import SAMPLES

log = logging.getLogger("stress_tests")

SIZES = (512, 224, 160, 128, 96, 64)
BOOTSTRAP = 1000
CROPS = {
    "quarter": lambda p: p[: p.shape[0] // 2, : p.shape[1] // 2],
    "one_lung": lambda p: p[:, : p.shape[1] // 2],
    "lower_half": lambda p: p[p.shape[0] // 2 :, :],
}


def pack_alone(engine: Engine, pixels: np.ndarray) -> dict[str, Any]:
    """The pack's consensus on pixels as given (no quality gate, no familiarity check)."""
    first = engine.pack.members[0]
    runs = engine.ensemble.run(to_batch(prepare(pixels, engine.pack.preprocessing), first.mean, first.std), heatmap=False)
    return combine(np.stack([r.probabilities[0] for r in runs]), engine.pack.classes, engine.pack.consensus, engine.thresholds)


def shrunk(pixels: np.ndarray, short_side: int) -> np.ndarray | None:
    """The film reduced so its short side is `short_side` px; None if it is smaller already."""
    scale = short_side / min(pixels.shape)
    if scale > 1.0:
        return None
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return np.clip(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), 0.0, 1.0)


def auroc_with_interval(labels: np.ndarray, scores: np.ndarray, seed: int = 0) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    value = float(roc_auc_score(labels, scores))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        index = rng.integers(0, len(labels), len(labels))
        if len(set(labels[index])) == 2:
            draws.append(roc_auc_score(labels[index], scores[index]))
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"auroc": round(value, 3), "low": round(float(low), 3), "high": round(float(high), 3)}


def same_source(engine: Engine, entries: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for source in ("nih-cxr14", "kermany"):
        films = [e for e in entries if e["source"] == source]
        if not films:
            continue
        results = [pack_alone(engine, load_image(e["file"]).pixels) for e in films]
        diseased = np.array([e["label"] != "Normal" for e in films])
        not_normal = np.array([1.0 - r["probabilities"]["Normal"] for r in results])
        called_normal = np.array([r["finding"] == "Normal" for r in results])
        out[source] = {
            "pneumonia_films": int(diseased.sum()), "normal_films": int((~diseased).sum()),
            **auroc_with_interval(diseased.astype(int), not_normal),
            "pneumonia_not_called_normal": round(float(np.mean(~called_normal[diseased])), 4),
            "normals_called_normal": round(float(np.mean(called_normal[~diseased])), 4),
            "pneumonia_findings": _shares([r["finding"] for r, d in zip(results, diseased, strict=True) if d]),
        }
    return out


def _shares(findings: list[str]) -> dict[str, float]:
    counts: dict[str, int] = defaultdict(int)
    for finding in findings:
        counts[finding] += 1
    return {k: round(v / max(len(findings), 1), 4) for k, v in sorted(counts.items())}


def resolution(engine: Engine, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for label in ("Normal", "COVID-19"):
        for source in sorted({e["source"] for e in entries if e["label"] == label}):
            films = [load_image(e["file"]).pixels for e in entries if e["label"] == label and e["source"] == source]
            for size in SIZES:
                copies = [c for c in (shrunk(p, size) for p in films) if c is not None]
                if not copies:
                    continue
                covid = np.array([pack_alone(engine, c)["finding"] == "COVID-19" for c in copies])
                refused = size < MIN_READABLE_SIDE  # the gate refuses every such copy (MIN_READABLE_SIDE)
                rows.append({
                    "label": label, "source": source, "short_side": size, "films": len(copies),
                    "pack_called_covid": round(float(covid.mean()), 4),
                    "app_called_covid": 0.0 if refused else round(float(covid.mean()), 4),
                    "refused_too_small": refused,
                })
            log.info("resolution sweep: %s %s done", label, source)
    return rows


def crops(engine: Engine, entries: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cut in CROPS.items():
        outcomes: dict[str, int] = defaultdict(int)
        for entry in entries:
            pixels = np.ascontiguousarray(cut(load_image(entry["file"]).pixels))
            try:
                result = engine.analyse_image(LoadedImage(pixels=pixels, source_format="png", bits=8), heatmap=False).result
            except QualityGateRefusal as refusal:
                outcomes[f"refused: {refusal.code}"] += 1
                continue
            outcomes["flagged for review" if result["consensus"]["needs_review"] else "answered without review"] += 1
        total = sum(outcomes.values())
        out[name] = {"films": total, "refused_or_flagged": round(1 - outcomes["answered without review"] / max(total, 1), 4),
                     "outcomes": dict(sorted(outcomes.items()))}
        log.info("crops: %s %s", name, out[name])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", required=True, type=Path)
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--per-group", type=int, default=100, help="held-out films per source and label for the sweep and the crops")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    engine = Engine.for_pack(read_manifest(args.pack), warm=False, backend="onnx")
    test = [e for e in json.loads((args.cache / SAMPLES).read_text(encoding="utf-8")) if e["split"] == "test"]
    sampled: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in sorted(test, key=lambda e: e["file"]):
        if len(sampled[(entry["source"], entry["label"])]) < args.per_group:
            sampled[(entry["source"], entry["label"])].append(entry)
    subset = [e for group in sampled.values() for e in group]
    report = {
        "description": f"Held-out test films only (patients never trained on); sweep and crops on at most {args.per_group} films per source and label.",
        "same_source": same_source(engine, test),
        "resolution": resolution(engine, subset),
        "crops": crops(engine, subset),
        "minimum_short_side": MIN_READABLE_SIDE,
    }
    if args.record:
        record(args.pack, "stress_tests", report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
