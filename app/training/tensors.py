"""Training data: files -> the inference preprocessing (app.inference.preprocess) -> tensors.

Images are decoded and preprocessed once (the same prepare() the app uses), then augmented per
batch on tensors with transforms that suit radiographs: small rotations, shifts and zoom,
brightness and contrast. No flips: a mirrored chest puts the heart on the wrong side.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

from app.inference.errors import InputError
from app.inference.io.files import load_image
from app.inference.preprocess import PreprocessSpec, prepare
from app.training.datasets import Sample

log = logging.getLogger(__name__)

MAX_ROTATION_DEGREES = 7.0
MAX_SHIFT = 0.06
ZOOM_RANGE = (0.95, 1.08)
BRIGHTNESS = 0.08
CONTRAST = 0.12


def load_prepared(samples: list[Sample], spec: PreprocessSpec, classes: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[Sample]]:
    """(N, 1, S, S) float32 in [0, 1], (N,) labels; unreadable files are skipped and logged."""
    images, labels, kept = [], [], []
    for sample in samples:
        try:
            images.append(prepare(load_image(sample.path).pixels, spec))
        except InputError as exc:
            log.warning("Skipping %s: %s", sample.path, exc)
            continue
        labels.append(classes.index(sample.label))
        kept.append(sample)
    if not images:
        return torch.zeros((0, 1, spec.input_size, spec.input_size)), torch.zeros(0, dtype=torch.long), kept
    return torch.from_numpy(np.stack(images)).unsqueeze(1), torch.tensor(labels, dtype=torch.long), kept


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine + brightness/contrast on a (N, 1, S, S) batch in [0, 1]."""
    n = batch.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES) * math.pi / 180
    scale = 1.0 / uniform(*ZOOM_RANGE)
    tx, ty = uniform(-MAX_SHIFT, MAX_SHIFT) * 2, uniform(-MAX_SHIFT, MAX_SHIFT) * 2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(1 - CONTRAST, 1 + CONTRAST).view(-1, 1, 1, 1)
    brightness = uniform(-BRIGHTNESS, BRIGHTNESS).view(-1, 1, 1, 1)
    return ((out - mean) * contrast + mean + brightness).clamp(0.0, 1.0)
