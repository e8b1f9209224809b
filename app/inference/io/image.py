"""The in-memory radiograph every reader produces and every later step consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LoadedImage:
    """A decoded radiograph.

    pixels: float32, shape (H, W), values in [0, 1], 1 = white (bone). Readers guarantee the
    display convention, so MONOCHROME1 DICOMs arrive already inverted.
    """

    pixels: np.ndarray
    source_format: str  # "png", "jpeg", "dicom"
    bits: int  # bits per sample in the source
    colourfulness: float = 0.0  # 0 for grayscale; mean chroma (0..1) for colour sources
    # Share of pixels that are clearly coloured (chroma above COLOURED_CHROMA): a gray film with a
    # coloured heatmap burnt into part of it has a low mean chroma but a large coloured share.
    coloured_fraction: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)  # patient/study tags (DICOM)
    notes: list[str] = field(default_factory=list)  # what was done to the pixels, for the user

    def __post_init__(self) -> None:
        check_pixels(self.pixels, "LoadedImage")

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def check_pixels(pixels: np.ndarray, where: str) -> None:
    """Loud check of the pixel contract: 2-D float32 in [0, 1] with no NaN/inf."""
    from app.inference.errors import PreprocessingContractError

    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2:
        raise PreprocessingContractError(f"{where}: expected a 2-D array, got {getattr(pixels, 'shape', type(pixels))}")
    if pixels.dtype != np.float32:
        raise PreprocessingContractError(f"{where}: expected float32 pixels, got {pixels.dtype}")
    if not np.isfinite(pixels).all():
        raise PreprocessingContractError(f"{where}: pixels contain NaN or infinity")
    low, high = float(pixels.min()), float(pixels.max())
    if low < 0.0 or high > 1.0:
        raise PreprocessingContractError(f"{where}: pixels must lie in [0, 1], got [{low:.3f}, {high:.3f}]")


def stretch_to_unit(values: np.ndarray, low_pct: float = 0.0, high_pct: float = 100.0) -> np.ndarray:
    """Linearly map values so the given percentiles land on 0 and 1 (clipped), as float32."""
    values = values.astype(np.float32, copy=False)
    if low_pct == 0.0 and high_pct == 100.0:
        low, high = float(values.min()), float(values.max())
    else:
        low, high = (float(v) for v in np.percentile(values, [low_pct, high_pct]))
    if high <= low:
        return np.zeros(values.shape, dtype=np.float32)
    out = (values - low) / (high - low)
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


COLOURED_CHROMA = 0.12


def chroma_measures(rgb: np.ndarray) -> tuple[float, float]:
    """(mean chroma, share of clearly coloured pixels) of an (H, W, 3) image in [0, 1]."""
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return float(np.mean(chroma)), float(np.mean(chroma > COLOURED_CHROMA))
