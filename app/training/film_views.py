"""What a member trains on: several prepared views of each film, and a weight for each view.

Views: the film as the app would prepare it, plus augmented views (collection_augment.degrade)
drawn with a seed per film and view, so a resumed or repeated run prepares exactly the same
pixels. Weights: every class counts the same, and inside a class every source counts the same
(a source with 400 films weighs as much as one with 2,500), times a factor for the sources whose
films carry a same-source contrast (NIH pneumonia against NIH normals, Kermany pneumonia against
Kermany normals): there nothing but the lungs separates the labels.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from app.inference.io.files import load_image
from app.inference.preprocess import PreprocessSpec, prepare
from app.training.collection_augment import degrade
from app.training.datasets import Sample

log = logging.getLogger(__name__)


def prepared_views(
    samples: list[Sample], splits: list[str], spec: PreprocessSpec, cache: Path, views: dict[str, int], seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(V, S, S) uint8 prepared views and (V,) the index of the film each view is of. views: how
    many per split ("train": 3 = the film as it is + 2 augmented; 0 leaves a split out)."""
    owners = np.array([i for i, split in enumerate(splits) for _ in range(views.get(split, 0))], dtype=np.int64)
    path = cache / f"views-{spec.input_size}.npy"
    if path.is_file():
        images = np.load(path)
        if len(images) == len(owners):
            return images, owners
    started = time.perf_counter()
    images = np.empty((len(owners), spec.input_size, spec.input_size), np.uint8)
    position = 0
    for index, (sample, split) in enumerate(zip(samples, splits, strict=True)):
        count = views.get(split, 0)
        if not count:
            continue
        pixels = load_image(sample.path).pixels
        for view in range(count):
            rng = np.random.default_rng([seed, index, view])
            source = pixels if view == 0 else degrade(pixels, rng)
            images[position] = np.round(prepare(source, spec) * 255).astype(np.uint8)
            position += 1
        if index % 2000 == 0:
            log.info("Prepared views of %d/%d films (%.0f s)", index, len(samples), time.perf_counter() - started)
    tmp = path.with_suffix(".partial.npy")
    np.save(tmp, images)
    tmp.replace(path)
    log.info("Prepared %d views of %d films in %.0f s", len(images), len(samples), time.perf_counter() - started)
    return images, owners


def view_weights(samples: list[Sample], classes: list[str], contrast_sources: dict[str, float]) -> np.ndarray:
    """(N,) weight per film, mean 1: classes equal, sources equal inside a class, contrast sources
    times their factor."""
    groups = Counter((s.label, s.source) for s in samples)
    sources_per_class = Counter(label for label, _ in groups)
    weights = np.array(
        [contrast_sources.get(s.source, 1.0) / (sources_per_class[s.label] * groups[(s.label, s.source)]) for s in samples],
        dtype=np.float64,
    )
    present = {s.label for s in samples}
    missing = [c for c in classes if c not in present]
    if missing:
        log.warning("No films of %s in this part of the data", missing)
    return (weights / weights.mean()).astype(np.float32)
