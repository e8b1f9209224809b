"""Small generated datasets for training tests (no patient data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app.inference.sample import chest_phantom


def write_class_folders(root: Path, per_class: int = 8, size: int = 96) -> Path:
    """Two classes a network can tell apart: phantoms with and without a bright 'opacity'."""
    rng = np.random.default_rng(0)
    for label, folder in (("Normal", "Normal"), ("Lung Opacity", "Lung_Opacity")):
        target = root / folder / "images"
        target.mkdir(parents=True, exist_ok=True)
        (root / folder / "masks").mkdir(exist_ok=True)  # ignored, as in the public layout
        for i in range(per_class):
            img = chest_phantom(size) + rng.normal(0, 0.02, (size, size)).astype(np.float32)
            if label == "Lung Opacity":
                y, x = rng.integers(size // 3, 2 * size // 3, 2)
                yy, xx = np.mgrid[0:size, 0:size]
                img += 0.35 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * (size / 10) ** 2))
            Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)).save(target / f"{folder}-{i}.png")
    return root
