"""Augmentations that take the collection away from a film, so a pack must learn the lungs.

Public chest X-ray collections differ in how their films were made and copied far more than in
what the lungs show: one collection's COVID-19 films are small web copies, another's normals are
sharp 1024 px exports, one burns in text, another has black borders. A network learns those cues
first. Each augmented view here draws, independently, the things that differ between collections:

- resolution: the film is reduced to a random short side between 64 px and its full size
  (log-uniform) and left there, so prepare() enlarges it exactly as the app enlarges a small file;
- blur, sensor noise, JPEG re-compression at a random quality;
- gamma and contrast (exposure and processing);
- a random crop or shift of the field of view (collimation);
- burnt-in text and markers, and black or white borders (scanned films, screenshots, exports).

It works on the pixels the app reads (float32 [0, 1], (H, W)), before prepare(), so training sees
the same path as a real upload. No flips or large rotations: a mirrored chest is not a chest.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_SHORT_SIDE = 64  # the smallest detail a view is reduced to (the resolution sweep ends there)
RESIZE_PROBABILITY = 0.75
BLUR_PROBABILITY = 0.3
MAX_BLUR_SIGMA = 1.5  # in pixels of the (possibly reduced) film
NOISE_PROBABILITY = 0.3
MAX_NOISE_STD = 0.03
JPEG_PROBABILITY = 0.4
JPEG_QUALITY = (25, 95)
GAMMA_RANGE = (0.7, 1.45)
CONTRAST_RANGE = (0.8, 1.2)
CROP_PROBABILITY = 0.5
MIN_CROP_SIDE = 0.85  # a crop keeps at least this share of each side: the whole chest stays in view
TEXT_PROBABILITY = 0.3
BORDER_PROBABILITY = 0.25
MAX_BORDER = 0.08  # share of a side

_TEXT = ("L", "R", "AP", "PA", "PORTABLE", "SUPINE", "ERECT", "12/03", "ID 4821", "x1.0", "CHEST", "Fig. 2", "R->")


def degrade(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random view of a film; float32 [0, 1] (h, w) back, usually smaller than what came in."""
    img = np.asarray(pixels, dtype=np.float32)
    if rng.random() < CROP_PROBABILITY:
        img = _crop(img, rng)
    if rng.random() < BORDER_PROBABILITY:
        img = _border(img, rng)
    if rng.random() < TEXT_PROBABILITY:
        img = _text(img, rng)
    img = _exposure(img, rng)
    if rng.random() < RESIZE_PROBABILITY:
        img = _reduce(img, rng)
    if rng.random() < BLUR_PROBABILITY:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, MAX_BLUR_SIGMA)))
    if rng.random() < NOISE_PROBABILITY:
        img = img + rng.normal(0.0, rng.uniform(0.005, MAX_NOISE_STD), img.shape).astype(np.float32)
    img = np.clip(img, 0.0, 1.0)
    if rng.random() < JPEG_PROBABILITY:
        img = _jpeg(img, rng)
    return np.ascontiguousarray(img, dtype=np.float32)


def _reduce(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    short = min(img.shape)
    if short <= MIN_SHORT_SIDE:
        return img
    target = float(np.exp(rng.uniform(np.log(MIN_SHORT_SIDE), np.log(short))))
    scale = target / short
    h, w = max(1, round(img.shape[0] * scale)), max(1, round(img.shape[1] * scale))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    ch, cw = round(h * rng.uniform(MIN_CROP_SIDE, 1.0)), round(w * rng.uniform(MIN_CROP_SIDE, 1.0))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return img[top : top + ch, left : left + cw]


def _border(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.copy()
    h, w = out.shape
    value = float(rng.choice([0.0, 1.0]))
    for side in rng.choice(4, size=int(rng.integers(1, 5)), replace=False):
        width = int(round((h if side < 2 else w) * rng.uniform(0.01, MAX_BORDER)))
        if width == 0:
            continue
        if side == 0:
            out[:width] = value
        elif side == 1:
            out[-width:] = value
        elif side == 2:
            out[:, :width] = value
        else:
            out[:, -width:] = value
    return out


def _text(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.copy()
    h, w = out.shape
    # OpenCV draws text on 8-bit images only: draw a mask, then paint it in black or white.
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        text = str(rng.choice(_TEXT))
        scale = max(h, w) / 512 * rng.uniform(0.5, 1.6)
        x = int(rng.uniform(0.02, 0.75) * w)
        y = int(rng.choice([rng.uniform(0.05, 0.18), rng.uniform(0.85, 0.97)]) * h)
        thickness = max(1, round(scale * 2))
        cv2.putText(mask, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
    alpha = mask.astype(np.float32) / 255.0
    return out * (1.0 - alpha) + float(rng.choice([0.0, 1.0])) * alpha


def _exposure(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.power(np.clip(img, 0.0, 1.0), rng.uniform(*GAMMA_RANGE))
    mean = float(out.mean())
    return (out - mean) * rng.uniform(*CONTRAST_RANGE) + mean


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    ok, encoded = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # never seen; the view is still valid without re-compression
        return img
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
