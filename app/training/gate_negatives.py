"""A varied set of images that are not frontal chest radiographs, to measure the quality gate.

Real images: the photographs, documents and microscopy images that ship with scikit-image, and
the CT, MR and other non-radiograph DICOM files that ship with pydicom (their pixels, so the
appearance check is measured, not the DICOM modality check). Generated images: blank and
saturated frames, several kinds of noise, documents, screenshots, gradients and patterns, and
synthetic CT-like chest slices. scikit-image is a development dependency (requirements-dev.txt).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from app.inference.io.image import LoadedImage, stretch_to_unit

SKIMAGE_COLOUR = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel", "logo", "motorcycle"]
SKIMAGE_GRAY = ["camera", "moon", "coins", "text", "page", "horse", "brick", "grass", "gravel", "cell", "clock", "microaneurysms", "shepp_logan_phantom", "checkerboard"]
PYDICOM_FILES = {
    "CT_small.dcm": "ct",
    "liver_1frame.dcm": "ct",
    "MR_small.dcm": "mr_head",
    "MR_small_RLE.dcm": "mr_head",
    "rtdose_1frame.dcm": "dose_grid",
    "examples_palette.dcm": "ultrasound",
}


@dataclass
class Negative:
    name: str
    category: str
    image: LoadedImage


def _loaded(pixels: np.ndarray, colourfulness: float = 0.0) -> LoadedImage:
    return LoadedImage(pixels=np.clip(pixels, 0, 1).astype(np.float32), source_format="png", bits=8, colourfulness=colourfulness)


def _from_rgb_or_gray(array: np.ndarray) -> LoadedImage:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.float32)
    values = array.astype(np.float32)
    if values.max() > 1.0:
        values /= 255.0 if values.max() <= 255 else values.max()
    if values.ndim == 3:
        values = values[..., :3]
        colour = float(np.mean(values.max(axis=2) - values.min(axis=2)))
        gray = values @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return _loaded(gray, colour)
    return _loaded(values)


def _crops(image: LoadedImage, rng: np.random.Generator, count: int) -> Iterator[LoadedImage]:
    h, w = image.pixels.shape
    for _ in range(count):
        ch, cw = int(h * rng.uniform(0.4, 0.8)), int(w * rng.uniform(0.4, 0.8))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        yield _loaded(image.pixels[y : y + ch, x : x + cw].copy(), image.colourfulness)


def skimage_images(rng: np.random.Generator) -> Iterator[Negative]:
    from skimage import data

    for name in SKIMAGE_COLOUR + SKIMAGE_GRAY:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                array = getattr(data, name)()
        except Exception:  # a few images are fetched over the network; never here
            continue
        if name == "motorcycle":
            array = array[0]
        image = _from_rgb_or_gray(array)
        category = "photo" if name in SKIMAGE_COLOUR else ("document" if name in ("text", "page") else "gray_photo")
        yield Negative(name, category, image)
        if image.colourfulness > 0:  # the same photograph in grayscale is the harder case
            yield Negative(f"{name}-gray", "gray_photo", _loaded(image.pixels))
        for i, crop in enumerate(_crops(_loaded(image.pixels), rng, 3)):
            yield Negative(f"{name}-crop{i}", "gray_photo", crop)
    faces = data.lfw_subset()
    for i in range(0, len(faces), 10):
        face = cv2.resize(faces[i].astype(np.float32), (128, 128), interpolation=cv2.INTER_CUBIC)
        yield Negative(f"lfw-face-{i}", "face", _loaded(stretch_to_unit(face)))


def pydicom_images() -> Iterator[Negative]:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    # The files shipped inside the package, read directly: pydicom's own lookup would try to
    # download any file it does not ship.
    test_files = Path(pydicom.__file__).parent / "data" / "test_files"
    for file, category in PYDICOM_FILES.items():
        path = test_files / file
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path)
            array = apply_modality_lut(ds.pixel_array, ds)
        except Exception:
            continue
        if array.ndim == 3 and array.shape[-1] != 3:
            array = array[0]
        if array.ndim == 3:
            yield Negative(file, category, _from_rgb_or_gray(array))
        else:
            image = stretch_to_unit(np.asarray(array, dtype=np.float32), 0.5, 99.5)
            if min(image.shape) < 64:
                image = cv2.resize(image, (128, 128), interpolation=cv2.INTER_LINEAR)
            yield Negative(file, category, _loaded(image))


def generated_images(rng: np.random.Generator, per_kind: int = 6) -> Iterator[Negative]:
    size = 256
    for i in range(per_kind):
        level = rng.uniform(0, 1)
        yield Negative(f"blank-{i}", "blank", _loaded(np.full((size, size), level) + rng.normal(0, 0.005, (size, size))))
        sat = np.full((size, size), float(i % 2))
        sat[rng.integers(0, 200) :][:20] = 0.5
        yield Negative(f"saturated-{i}", "saturated", _loaded(sat))
        yield Negative(f"noise-gauss-{i}", "noise", _loaded(rng.normal(0.5, rng.uniform(0.05, 0.3), (size, size))))
        yield Negative(f"noise-uniform-{i}", "noise", _loaded(rng.uniform(0, 1, (size, size))))
        sp = np.full((size, size), 0.5)
        mask = rng.uniform(0, 1, (size, size))
        sp[mask < 0.1], sp[mask > 0.9] = 0.0, 1.0
        yield Negative(f"noise-saltpepper-{i}", "noise", _loaded(sp))
        smooth = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), rng.uniform(3, 20))
        yield Negative(f"noise-smooth-{i}", "noise", _loaded(stretch_to_unit(smooth)))
        yield Negative(f"document-{i}", "document", _loaded(_document(rng)))
        screenshot, colour = _screenshot(rng)
        yield Negative(f"screenshot-{i}", "screenshot", _loaded(screenshot, colour))
        yield Negative(f"screenshot-gray-{i}", "screenshot", _loaded(screenshot))
        yield Negative(f"gradient-{i}", "pattern", _loaded(_gradient(rng, size)))
        yield Negative(f"ct-chest-synthetic-{i}", "ct", _loaded(_ct_slice(rng, size)))


def _document(rng: np.random.Generator) -> np.ndarray:
    img = Image.new("L", (420, 594), 255)
    draw = ImageDraw.Draw(img)
    y = 30
    while y < 560:
        words = " ".join("".join(chr(rng.integers(97, 123)) for _ in range(rng.integers(2, 9))) for _ in range(8))
        draw.text((30, y), words, fill=int(rng.integers(0, 80)))
        y += int(rng.integers(12, 22))
    return np.asarray(img, dtype=np.float32) / 255.0


def _screenshot(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    img = Image.new("RGB", (640, 400), tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 640, 28), fill=tuple(int(v) for v in rng.integers(0, 120, 3)))
    for _ in range(12):
        x, y = int(rng.integers(0, 560)), int(rng.integers(40, 360))
        draw.rectangle((x, y, x + int(rng.integers(40, 200)), y + int(rng.integers(15, 80))), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw.text((x + 4, y + 2), "Button label", fill=(0, 0, 0))
    rgb = np.asarray(img, dtype=np.float32) / 255.0
    colour = float(np.mean(rgb.max(axis=2) - rgb.min(axis=2)))
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32), colour


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, np.pi)
    return (np.cos(angle) * xx + np.sin(angle) * yy).astype(np.float32) / 1.5 + 0.1


def _ct_slice(rng: np.random.Generator, size: int) -> np.ndarray:
    """An axial chest CT-like slice: body ellipse, two dark lungs, bright spine and table."""
    img = np.zeros((size, size), np.float32)
    c = size // 2
    cv2.ellipse(img, (c, c), (int(size * rng.uniform(0.38, 0.46)), int(size * rng.uniform(0.28, 0.34))), 0, 0, 360, 0.55, -1)
    for side in (-1, 1):
        cv2.ellipse(img, (c + side * size // 6, c - size // 20), (size // 9, size // 6), 0, 0, 360, 0.08, -1)
    cv2.circle(img, (c, c + size // 5), size // 18, 0.95, -1)
    cv2.rectangle(img, (size // 8, int(size * 0.85)), (size - size // 8, int(size * 0.88)), 0.7, -1)
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def all_negatives(seed: int = 0) -> list[Negative]:
    rng = np.random.default_rng(seed)
    return [*skimage_images(rng), *pydicom_images(), *generated_images(rng)]
