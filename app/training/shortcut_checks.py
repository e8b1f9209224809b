"""Does the pack learn the disease or the source? Experiments on the cached trunk features.

    python -m app.training.shortcut_checks --cache /tmp/cxr-cache --pack bundled_models/cxr-covid3-lite \
        [--backbone efficientnet_lite0]

In covid-radiography, COVID-19 and adult Normal films come from different collections, and every
viral pneumonia film is paediatric (Kermany). A network can score well by recognising the
collection or the child instead of the disease. Each experiment below trains one member exactly
as app.training.train_pretrained does (same backbone trunk, same recipe), but with one source left out
of training, and then asks what it answers on that source's held-out test films:

- no paediatric normals: trained without Kermany's Normal films. If the member called Kermany's
  normal children "Viral Pneumonia", "child" would be what it learnt for pneumonia.
- no adult normals: trained without the COVID-19 database's adult Normal films. If it then called
  adult normals "COVID-19", "adult film from that database" would be what it learnt for COVID-19.
- source probe: a logistic regression on pooled trunk features (ImageNet weights, no fine-tuning)
  telling the two Normal collections apart. A high AUROC says the source is visible to the network
  at all, so that nothing but the label balance stops it from being used.

The results are written to the pack's manifest (shortcut_checks) and rendered in MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from app.inference.packs.manifest import MANIFEST
from app.training.train_pretrained import SAMPLES, tail_logits, train_member

log = logging.getLogger("shortcut_checks")

# (key, what is left out of training (source, label), what is reported on)
LEAVE_OUT = [
    ("no_paediatric_normals", ("kermany", "Normal")),
    ("no_adult_normals", ("kaggle-radiography", "Normal")),
]


def load(cache: Path, backbone: str) -> tuple[list[dict[str, str]], np.ndarray]:
    samples = json.loads((cache / SAMPLES).read_text(encoding="utf-8"))
    features = np.load(cache / f"features-{backbone}.npy")
    if len(samples) != len(features):
        raise SystemExit(f"{cache}: {SAMPLES} lists {len(samples)} images but the features hold {len(features)}")
    return samples, features


def distribution(predicted: np.ndarray, classes: list[str]) -> dict[str, float]:
    return {c: round(float(np.mean(predicted == i)), 4) for i, c in enumerate(classes)}


def leave_one_out(samples: list[dict[str, str]], features: np.ndarray, classes: list[str], backbone: str, left_out: tuple[str, str], args: argparse.Namespace, checkpoint: Path) -> dict[str, Any]:
    source, label = left_out
    out_mask = np.array([(s["source"], s["label"]) == left_out for s in samples])
    split = np.array([s["split"] for s in samples])
    labels = np.array([classes.index(s["label"]) for s in samples])
    keep = {name: (split == name) & ~out_mask for name in ("train", "valid")}
    model, state = train_member(
        backbone,
        {name: features[mask] for name, mask in keep.items()},
        {name: labels[mask] for name, mask in keep.items()},
        len(classes),
        args,
        seed=args.seed,
        bootstrap=False,
        checkpoint=checkpoint,
    )
    report: dict[str, Any] = {"left_out": f"{source}: {label}", "backbone": backbone, "best_epoch": state["best_epoch"], "trained_on_images": int(keep["train"].sum())}
    test = split == "test"
    for name, mask in (("left_out_test", test & out_mask), ("rest_of_test", test & ~out_mask)):
        predicted = tail_logits(model, features[mask]).argmax(axis=1)
        report[name] = {"n": int(mask.sum()), "predicted": distribution(predicted, classes), "accuracy": round(float(np.mean(predicted == labels[mask])), 4)}
    return report


def source_probe(samples: list[dict[str, str]], features: np.ndarray) -> dict[str, Any]:
    """Adult (COVID-19 database) vs paediatric (Kermany) Normal films, from frozen ImageNet features."""
    normal = np.array([s["label"] == "Normal" for s in samples])
    split = np.array([s["split"] for s in samples])
    pooled = features.astype(np.float32).mean(axis=(2, 3))
    target = np.array([s["source"] == "kermany" for s in samples])
    train, test = normal & (split == "train"), normal & (split == "test")
    probe = LogisticRegression(max_iter=2000, C=0.1).fit(pooled[train], target[train])
    scores = probe.predict_proba(pooled[test])[:, 1]
    return {"task": "Normal films: adult (kaggle-radiography) vs paediatric (kermany)", "train_images": int(train.sum()), "test_images": int(test.sum()), "auroc": round(float(roc_auc_score(target[test], scores)), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--pack", required=True, type=Path, help="the pack whose manifest records the results")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    manifest_path = args.pack / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    classes = manifest["classes"]
    samples, features = load(args.cache, args.backbone)
    checks: dict[str, Any] = {"source_probe": source_probe(samples, features)}
    log.info("source probe: %s", checks["source_probe"])
    for key, left_out in LEAVE_OUT:
        checks[key] = leave_one_out(samples, features, classes, args.backbone, left_out, args, args.cache / f"shortcut-{key}.ckpt")
        log.info("%s: %s", key, checks[key])
    manifest["shortcut_checks"] = checks
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(manifest_path)
    from app.training.model_card import write_model_card

    write_model_card(args.pack)
    print(json.dumps(checks, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
