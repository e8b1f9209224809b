"""Turn a fused Grad-CAM map into images for the viewer and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from app.inference.consensus import MemberRun

DISPLAY_MAX_SIDE = 1024
# Below this activation the overlay is fully transparent, so faint noise does not tint the lungs.
ALPHA_FLOOR = 0.15


def display_size(height: int, width: int, max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_map(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.clip(cv2.resize(cam.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def colour_rgba(cam: np.ndarray) -> np.ndarray:
    """RGBA uint8: turbo colours, alpha rising with activation (the viewer scales it further)."""
    u8 = np.round(cam * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(u8, cv2.COLORMAP_TURBO)
    alpha = np.clip((cam - ALPHA_FLOOR) / (1 - ALPHA_FLOOR), 0, 1)
    rgba = np.dstack([bgr[..., ::-1], np.round(alpha * 255).astype(np.uint8)])
    return rgba


def overlay_rgb(pixels: np.ndarray, cam: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """The radiograph with the heatmap blended on top, RGB uint8 (for reports and thumbnails)."""
    gray = np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    base = np.dstack([gray, gray, gray]).astype(np.float32)
    rgba = colour_rgba(cam).astype(np.float32)
    alpha = (rgba[..., 3:4] / 255.0) * opacity
    blended = base * (1 - alpha) + rgba[..., :3] * alpha
    return np.round(blended).astype(np.uint8)


def encode_png(array: np.ndarray) -> bytes:
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()


def fuse_cams(runs: list[MemberRun]) -> np.ndarray:
    """Mean of the members' normalised maps, renormalised to [0, 1]: (N, S, S)."""
    cams = np.stack([r.cam for r in runs if r.cam is not None])
    fused = cams.mean(axis=0)
    peak = fused.reshape(fused.shape[0], -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, fused / np.maximum(peak, 1e-8), 0.0).astype(np.float32)
