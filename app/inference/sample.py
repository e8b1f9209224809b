"""A built-in synthetic chest phantom, for smoke-testing a model pack without any patient data.

It is not a radiograph (the quality gate may refuse it); it only proves that a pack loads,
runs and returns well-formed probabilities on this machine.
"""

from __future__ import annotations

import cv2
import numpy as np


def chest_phantom(size: int = 256) -> np.ndarray:
    img = np.full((size, size), 0.12, np.float32)
    c = size // 2
    cv2.ellipse(img, (c, int(size * 0.55)), (int(size * 0.42), int(size * 0.48)), 0, 0, 360, 0.55, -1)  # thorax
    for side in (-1, 1):  # lungs
        cv2.ellipse(img, (c + side * int(size * 0.18), int(size * 0.48)), (int(size * 0.13), int(size * 0.28)), 0, 0, 360, 0.25, -1)
        for rib in range(6):  # ribs
            y = int(size * (0.28 + rib * 0.08))
            cv2.ellipse(img, (c + side * int(size * 0.18), y), (int(size * 0.15), int(size * 0.04)), 0, 180, 360, 0.6, 2)
    cv2.rectangle(img, (c - size // 24, int(size * 0.15)), (c + size // 24, size), 0.8, -1)  # spine
    cv2.ellipse(img, (c + size // 14, int(size * 0.62)), (int(size * 0.12), int(size * 0.1)), 0, 0, 360, 0.65, -1)  # heart
    return np.clip(cv2.GaussianBlur(img, (0, 0), size / 128), 0.0, 1.0).astype(np.float32)
