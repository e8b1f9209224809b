"""Write a model pack folder: weights (fp16 state_dicts) plus manifest.json with checksums.

Used by training to publish a pack, and by tests and benchmarks to build small random packs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from torch import nn

from app.inference import architectures
from app.inference.packs.manifest import FORMAT_VERSION, MANIFEST, save_weights
from app.inference.preprocess import PreprocessSpec

DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.25


@dataclass
class MemberToWrite:
    name: str
    architecture: str
    model: nn.Module | None = None  # None: randomly initialised (tests, benchmarks)
    temperature: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def write_pack(
    folder: Path,
    *,
    name: str,
    version: str,
    classes: list[str],
    members: list[MemberToWrite],
    preprocessing: PreprocessSpec,
    validated: bool = False,
    intended_use: str = "Demonstration of the workstation's workflow. Not for diagnosis.",
    consensus: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    limitations: list[str] | None = None,
    half: bool = True,
    normalization: dict[str, float] | None = None,
    normal_classes: list[str] | None = None,
    class_codes: dict[str, dict[str, str]] | None = None,
) -> Path:
    norm = normalization or {"mean": DEFAULT_MEAN, "std": DEFAULT_STD}
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for member in members:
        model = member.model or architectures.build(member.architecture, num_classes=len(classes))
        weights = f"{member.name}.pt"
        sha = save_weights(model, folder / weights, half=half)
        entries.append(
            {
                "name": member.name,
                "architecture": member.architecture,
                "weights": weights,
                "sha256": sha,
                "input_size": preprocessing.input_size,
                "normalization": dict(norm),
                "temperature": member.temperature,
                "thresholds": {c: member.thresholds.get(c, 0.5) for c in classes},
                "metrics": member.metrics,
            }
        )
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "created": date.today().isoformat(),
        "validated": validated,
        "intended_use": intended_use,
        "classes": classes,
        **({"class_codes": class_codes} if class_codes else {}),
        "normal_classes": normal_classes or [],
        "preprocessing": preprocessing.to_manifest(),
        "consensus": consensus or {"rule": "mean_probability", "review_threshold": 0.75, "min_agreement": 2 / 3},
        "members": entries,
        "provenance": provenance or {},
        "evaluation": evaluation or {},
        "limitations": limitations or [],
    }
    write_manifest(folder, manifest)
    return folder


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Replace the pack's manifest.json in one step (a reader sees the old one or the new one)."""
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
