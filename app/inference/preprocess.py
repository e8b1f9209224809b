"""The one preprocessing code path, shared by training, evaluation and inference.

    pixels [0,1] (H, W)  --prepare()-->  [0,1] (S, S), optionally CLAHE  --to_batch()-->  float32 array (N, 3, S, S)

Training imports these same functions (app/training/tensors.py); there is no second implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.inference.errors import PreprocessingContractError
from app.inference.io.image import check_pixels


@dataclass(frozen=True)
class PreprocessSpec:
    input_size: int
    clahe_clip_limit: float | None = 2.0  # None: no CLAHE
    clahe_tile_grid: int = 8
    # Reduce every image to this much detail first (then resize to input_size), so a pack trained
    # on low-resolution images sees the same level of detail in a full-resolution radiograph.
    detail_size: int | None = None

    def to_manifest(self) -> dict[str, object]:
        return {
            "input_size": self.input_size,
            "detail_size": self.detail_size,
            "grayscale": True,
            "clahe": None
            if self.clahe_clip_limit is None
            else {"clip_limit": self.clahe_clip_limit, "tile_grid": self.clahe_tile_grid},
        }


def prepare(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Resize to the model's square input and equalise contrast; returns float32 [0, 1]."""
    check_pixels(pixels, "prepare() input")
    size = spec.input_size
    img8 = np.round(pixels * 255.0).astype(np.uint8)
    if spec.detail_size is not None and min(img8.shape) > spec.detail_size:
        img8 = cv2.resize(img8, (spec.detail_size, spec.detail_size), interpolation=cv2.INTER_AREA)
    shrinking = img8.shape[0] > size or img8.shape[1] > size
    resized = cv2.resize(img8, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if spec.clahe_clip_limit is not None:
        clahe = cv2.createCLAHE(clipLimit=spec.clahe_clip_limit, tileGridSize=(spec.clahe_tile_grid, spec.clahe_tile_grid))
        resized = clahe.apply(resized)
    out = resized.astype(np.float32) / 255.0
    check_pixels(out, "prepare() output")
    return out


def to_batch(prepared: list[np.ndarray] | np.ndarray, mean: float, std: float) -> np.ndarray:
    """Normalise and replicate gray to the 3 channels torchvision architectures expect. A NumPy
    array, so that the ONNX Runtime path never needs torch (ensemble.py wraps it without a copy)."""
    arrays = [prepared] if isinstance(prepared, np.ndarray) else list(prepared)
    for array in arrays:
        check_pixels(array, "to_batch() input")
    return normalise(np.stack(arrays)[:, None], mean, std)


def normalise(batch, mean: float, std: float):  # noqa: ANN001, ANN201  (np.ndarray or torch.Tensor, same kind back)
    """(N, 1, S, S) in [0, 1] -> normalised (N, 3, S, S), gray replicated for torchvision archs.
    Training passes torch tensors (on the GPU when there is one), inference NumPy arrays."""
    if std <= 0:
        raise PreprocessingContractError(f"normalisation std must be positive, got {std}")
    scaled = (batch - mean) / std
    if isinstance(scaled, np.ndarray):
        return np.ascontiguousarray(np.broadcast_to(scaled, (scaled.shape[0], 3, *scaled.shape[2:])), dtype=np.float32)
    return scaled.expand(-1, 3, -1, -1).contiguous()
