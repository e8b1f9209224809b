"""The film at its full bit depth for the viewer's window and level: the stored values after the
DICOM Modality LUT (or a 16-bit PNG's values), turned as the quality gate turned the film the AI
read, sent as 16-bit integers the browser maps through the chosen window itself. The 8-bit
display PNG has already spent the window the file carried; this keeps what a 12- or 16-bit
detector recorded.

Binary layout (little endian): the header is JSON in the response's X-Viewer-Meta header (width,
height, the value each step stands for, presets); the body is width × height unsigned 16-bit
integers, row by row. Made once per analysis and kept beside the display images.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from django.conf import settings
from pydicom.pixels import apply_modality_lut

from app.clinical.models import Study

MAX_SIDE = 3072  # a 14×17" detector at 0.14 mm is about 2,500×3,000: kept whole
LEVELS = 65535
# Presets from the film's own histogram (projection radiographs have no Hounsfield units): the
# share of values each window spans, from darkest (air) to brightest (bone and metal).
PERCENTILE_PRESETS = {"lung": (1.0, 70.0), "mediastinum": (35.0, 99.0), "bone": (60.0, 99.9), "full": (0.0, 100.0)}


def _raw_values(study: Study) -> tuple[np.ndarray, dict[str, Any]]:
    """(values as float64, facts) for the stored file, before any window."""
    facts: dict[str, Any] = {"invert": False, "file_windows": []}
    if study.file_format == "dicom":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(study.path, force=True)
            stored = ds.pixel_array
        if stored.ndim == 3:  # colour: the viewer shows its grey
            values = stored.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        else:
            values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
        facts["invert"] = str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1"
        centres, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
        if centres is not None and widths is not None:
            centres = list(centres) if isinstance(centres, pydicom.multival.MultiValue) else [centres]
            widths = list(widths) if isinstance(widths, pydicom.multival.MultiValue) else [widths]
            explanations = ds.get("WindowCenterWidthExplanation")
            explanations = list(explanations) if isinstance(explanations, pydicom.multival.MultiValue) else [explanations] * len(centres)
            for i, (c, w) in enumerate(zip(centres, widths)):
                if float(w) > 0:
                    facts["file_windows"].append({"name": str(explanations[i] or f"file window {i + 1}")[:40], "centre": float(c), "width": float(w)})
        facts["bits"] = int(ds.get("BitsStored", 8) or 8)
    else:
        values = cv2.imread(str(study.path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
        if values is None:
            raise ValueError("the stored file cannot be decoded")
        if values.ndim == 3:
            values = cv2.cvtColor(values, cv2.COLOR_BGR2GRAY if values.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
        values = values.astype(np.float64)
        facts["bits"] = 16 if values.max() > 255 else 8
    return values, facts


def _turned(values: np.ndarray, transform: str) -> tuple[np.ndarray, bool]:
    """The gate's orientation fix, as applied to the film the AI read (quality_gate.apply_transform)."""
    turns = {"rot90": 1, "rot180": 2, "rot270": 3}.get(transform, 0)
    return np.ascontiguousarray(np.rot90(values, k=turns)), transform == "inverted"


def viewer_pixels(study: Study) -> tuple[Path, dict[str, Any]]:
    """The 16-bit file and its metadata, made once per study and analysis."""
    analysis = study.latest_analysis
    outcome = analysis.outcome if analysis else None
    transform = str((outcome.data.get("quality_gate") or {}).get("transform", "identity")) if outcome else "identity"
    folder = settings.DATA_DIR.derived / f"study-{study.pk}"
    path = folder / f"viewer-{transform}.u16"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        return path, json.loads(meta_path.read_text(encoding="utf-8"))
    values, facts = _raw_values(study)
    values, inverted = _turned(values, transform)
    height, width = values.shape
    scale = min(1.0, MAX_SIDE / max(height, width))
    if scale < 1.0:
        values = cv2.resize(values, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    low, high = float(values.min()), float(values.max())
    step = (high - low) / LEVELS if high > low else 1.0
    encoded = np.round((values - low) / step).clip(0, LEVELS).astype("<u2")
    percentiles = {name: (float(np.percentile(values, a)), float(np.percentile(values, b))) for name, (a, b) in PERCENTILE_PRESETS.items()}
    presets = [{"name": w["name"], "centre": w["centre"], "width": w["width"], "file": True} for w in facts["file_windows"]]
    presets += [{"name": name, "centre": (a + b) / 2, "width": max(b - a, step)} for name, (a, b) in percentiles.items()]
    meta = {
        "width": int(encoded.shape[1]), "height": int(encoded.shape[0]), "offset": low, "step": step, "bits": facts.get("bits", 8),
        "invert": bool(facts["invert"]) != inverted, "presets": presets,
        "default": presets[0]["name"] if facts["file_windows"] else "full",
    }
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(encoded.tobytes())
    tmp.replace(path)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return path, meta
