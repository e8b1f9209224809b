"""One radiograph file in, one serialisable result out.

    engine = Engine.for_pack(pack)                    # loads, verifies and warms the ensemble
    analysis = engine.analyse("chest.dcm")            # InputError / QualityGateRefusal on bad input
    analysis.result                                    # plain JSON-able dict (timings, device, pack...)
    analysis.save_images(folder)                      # display image, heatmap (RGBA), overlay (PNG)

Steps, in order: read (by content) -> quality gate (may correct orientation, refuses films that
are not whole frontal chest radiographs or are too small to read) -> preprocess (once, shared by
every member) -> familiarity (is the film like the pack's training films?) -> ensemble
(+ Grad-CAM) -> consensus -> images.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from app.inference import heatmap as heatmaps
from app.inference.consensus import combine, review_reason_text, pack_thresholds
from app.inference.io.image import LoadedImage
from app.inference.io.files import load_image
from app.inference.packs.manifest import ModelPack
from app.inference.onnx_ensemble import OnnxEnsemble
from app.inference.runtimes import NEEDS_ONNX_EXPORTS, cuda_available, onnx_available, torch_installed
from app.inference.preprocess import prepare, to_batch
from app.inference.errors import ModelPackError, QualityGateRefusal
from app.inference.familiarity import FamiliarityCheck
from app.inference.quality_gate import OVERRIDABLE_REFUSALS, GateResult, QualityGate
from app.inference.site_profile import SiteProfile

if TYPE_CHECKING:
    from app.inference.ensemble import Ensemble  # torch: imported where it is used

log = logging.getLogger(__name__)

DEMONSTRATION_WARNING = "Demonstration model, not for diagnosis"

Progress = Callable[[float, str], None]


@dataclass
class EngineOutput:
    result: dict[str, Any]
    display: np.ndarray  # (H, W) float [0, 1], upright, at display size
    heatmap: np.ndarray | None = None  # (H, W) float [0, 1] at display size

    def save_images(self, folder: Path, stem: str = "analysis") -> dict[str, Path]:
        """Write display.png, heatmap.png (RGBA, for the opacity slider) and overlay.png (reports)."""
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        gray = np.round(self.display * 255).astype(np.uint8)
        outputs: dict[str, np.ndarray] = {"display": gray}
        if self.heatmap is not None:
            outputs["heatmap"] = heatmaps.colour_rgba(self.heatmap)
            outputs["overlay"] = heatmaps.overlay_rgb(self.display, self.heatmap)
        for name, array in outputs.items():
            path = folder / f"{stem}-{name}.png"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(heatmaps.encode_png(array))
            tmp.replace(path)
            written[name] = path
        return written


BACKENDS = ("auto", "torch", "onnx")


def choose_backend(pack: ModelPack, requested: str, device: str | None) -> str:
    """ "auto": torch on a GPU (or when a device is named), else ONNX Runtime when every member has
    an ONNX export and the runtime is installed, else torch on the CPU."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown inference backend {requested!r} (one of {', '.join(BACKENDS)})")
    if requested != "auto":
        chosen = requested
    elif device not in (None, "cpu") or not all(m.onnx for m in pack.members) or not onnx_available():
        chosen = "torch"
    else:
        chosen = "torch" if device is None and cuda_available() else "onnx"
    if chosen == "torch" and not torch_installed():
        raise ModelPackError(NEEDS_ONNX_EXPORTS, pack=pack.name)
    return chosen


def default_device_name() -> str:
    """What the engine would run on, for the health page when no pack could be loaded."""
    if cuda_available():
        from app.inference.ensemble import choose_device, describe_device

        return describe_device(choose_device())
    return f"CPU ({os.cpu_count()} cores)"


class Engine:
    def __init__(self, pack: ModelPack, ensemble: Ensemble | OnnxEnsemble, gate: QualityGate | None = None) -> None:
        self.pack = pack
        self.ensemble = ensemble
        self.gate = gate or QualityGate()
        self.thresholds = pack_thresholds([m.thresholds for m in pack.members], pack.classes)
        self.familiarity = FamiliarityCheck(pack.root, pack.familiarity, pack.name) if pack.familiarity is not None else None
        # One analysis at a time per engine: the models are shared and Grad-CAM is not re-entrant.
        self._lock = threading.Lock()

    @classmethod
    def for_pack(
        cls, pack: ModelPack, *, device: str | None = None, memory_budget_mb: int = 6144, warm: bool = True, backend: str = "auto",
    ) -> Engine:
        """backend: "torch", "onnx" (ONNX Runtime on the CPU) or "auto" (choose_backend)."""
        if choose_backend(pack, backend, device) == "onnx":
            ensemble: Ensemble | OnnxEnsemble = OnnxEnsemble(pack)
            gate = QualityGate(onnx=True)
        else:
            from app.inference.ensemble import Ensemble  # torch: not in the CPU-only edition

            ensemble, gate = Ensemble(pack, device=device, memory_budget_mb=memory_budget_mb), QualityGate()
        engine = cls(pack, ensemble, gate)
        if warm:
            engine.warm_up()
        return engine

    @property
    def device_name(self) -> str:
        return self.ensemble.device_name

    def warm_up(self) -> float:
        """One throw-away pass (with Grad-CAM) so the first real image does not pay for kernel set-up."""
        started = time.perf_counter()
        size = self.pack.preprocessing.input_size
        dummy = np.full((size, size), 0.5, dtype=np.float32)
        with self._lock:
            first = self.pack.members[0]
            self.ensemble.run(to_batch(prepare(dummy, self.pack.preprocessing), first.mean, first.std), heatmap=True)
        return time.perf_counter() - started

    def status(self) -> dict[str, Any]:
        return {
            "device": self.device_name,
            "model_pack": {
                "loaded": True,
                **self.pack.summary(),
                "resident": self.ensemble.resident,
                "demonstration": not self.pack.validated,
            },
        }

    # -- analysis --------------------------------------------------------------------------

    def analyse(
        self, path: str | Path, *, heatmap: bool = True, progress: Progress | None = None, override_gate: bool = False, site_profile: SiteProfile | None = None,
    ) -> EngineOutput:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if progress:
            progress(0.02, "Reading the image")
        image = load_image(path)
        timings["read"] = time.perf_counter() - started
        return self.analyse_image(image, heatmap=heatmap, timings=timings, started=started, progress=progress, override_gate=override_gate, site_profile=site_profile)

    def analyse_image(
        self,
        image: LoadedImage,
        *,
        heatmap: bool = True,
        timings: dict[str, float] | None = None,
        started: float | None = None,
        progress: Progress | None = None,
        override_gate: bool = False,
        site_profile: SiteProfile | None = None,
    ) -> EngineOutput:
        """Gate, preprocess, run the ensemble. `progress(fraction, message)` is called between
        steps (the job worker uses it to report progress and to stop on cancel).

        override_gate: a person decided this film is a chest radiograph although the gate refused
        it; an overridable refusal is then recorded in the result, the image is analysed as given
        and the finding always needs review. Other refusals (colour, blank, noise) still raise.

        site_profile: this clinic's calibration of this pack (app/inference/site_profile.py); the
        result records it and keeps the pack's own probabilities beside the site's."""
        report = progress or (lambda fraction, message: None)
        timings = dict(timings or {})
        started = started if started is not None else time.perf_counter()
        report(0.1, "Checking that this is a frontal chest radiograph")
        step = time.perf_counter()
        try:
            gate = self.gate.check(image)
        except QualityGateRefusal as refusal:
            if not override_gate or refusal.code not in OVERRIDABLE_REFUSALS:
                raise
            gate = GateResult.overruled(image.pixels, refusal)
        timings["quality_gate"] = time.perf_counter() - step

        step = time.perf_counter()
        prepared = prepare(gate.pixels, self.pack.preprocessing)
        timings["preprocess"] = time.perf_counter() - step

        # read_manifest() guarantees one normalisation for all members: one batch for all.
        first = self.pack.members[0]
        batch = to_batch(prepared, first.mean, first.std)
        familiarity: dict[str, Any] | None = None
        if self.familiarity is not None and gate.overridden is None:  # an overruled film needs review anyway
            step = time.perf_counter()
            distance = self.familiarity.distance(batch)
            threshold = self.familiarity.threshold
            if site_profile is not None and site_profile.familiarity_threshold is not None:
                threshold = site_profile.familiarity_threshold  # this clinic's ordinary films taken in
            familiarity = {"distance": round(distance, 3), "threshold": round(threshold, 3), "unfamiliar": distance > threshold}
            timings["familiarity"] = time.perf_counter() - step

        with self._lock:
            step = time.perf_counter()
            members = len(self.pack.members)
            runs = self.ensemble.run(
                batch,
                heatmap=heatmap,
                on_member=lambda done, name: report(0.2 + 0.7 * done / members, f"Model {done} of {members} ({name}) done"),
            )
            timings["ensemble"] = time.perf_counter() - step

        probs = np.stack([r.probabilities[0] for r in runs])
        site: dict[str, Any] | None = None
        if site_profile is not None:
            site_profile.check_pack(self.pack.name, self.pack.version, self.pack.classes)
            pack_mean = probs.mean(axis=0)
            probs = site_profile.adjust(probs)
            consensus = combine(probs, self.pack.classes, self.pack.consensus, self.thresholds, mean=site_profile.adjust(pack_mean)[0])
            site = {**site_profile.summary(), "pack_probabilities": {c: float(p) for c, p in zip(self.pack.classes, pack_mean, strict=True)},
                    "pack_finding": self.pack.classes[int(np.argmax(pack_mean))]}
        else:
            consensus = combine(probs, self.pack.classes, self.pack.consensus, self.thresholds)
        consensus["positive"] = self.pack.is_positive(consensus["finding"])
        if gate.overridden is not None:
            consensus["needs_review"] = True
            detail = {"code": "gate_overridden", "refusal": gate.overridden.code}
            consensus["review_details"].append(detail)
            consensus["review_reasons"].append(review_reason_text(detail))
        if gate.partial_chest:
            consensus["needs_review"] = True
            detail = {"code": "partial_chest"}
            consensus["review_details"].append(detail)
            consensus["review_reasons"].append(review_reason_text(detail))
        if familiarity is not None and familiarity["unfamiliar"]:
            consensus["needs_review"] = True
            detail = {"code": "unfamiliar_film", "distance": familiarity["distance"], "threshold": familiarity["threshold"]}
            consensus["review_details"].append(detail)
            consensus["review_reasons"].append(review_reason_text(detail))

        report(0.92, "Preparing the heatmap")
        step = time.perf_counter()
        height, width = heatmaps.display_size(*gate.pixels.shape)
        display = cv2.resize(gate.pixels, (width, height), interpolation=cv2.INTER_AREA)
        fused = heatmaps.resize_map(heatmaps.fuse_cams(runs)[0], height, width) if heatmap else None
        timings["heatmap_render"] = time.perf_counter() - step
        timings["total"] = time.perf_counter() - started

        result = {
            "pack": {
                "name": self.pack.name,
                "version": self.pack.version,
                "validated": self.pack.validated,
                "intended_use": self.pack.intended_use,
            },
            "demonstration": not self.pack.validated,
            "warning": DEMONSTRATION_WARNING if not self.pack.validated else "",
            "device": self.device_name,
            "classes": list(self.pack.classes),
            "consensus": consensus,
            "members": [
                {
                    "name": r.spec.name,
                    "architecture": r.spec.architecture,
                    "probabilities": {c: float(p) for c, p in zip(self.pack.classes, row, strict=True)},
                    "prediction": self.pack.classes[int(np.argmax(row))],
                    "temperature": r.spec.temperature,
                    "seconds": round(r.seconds, 4),
                }
                for r, row in zip(runs, probs, strict=True)
            ],
            "image": {
                "format": image.source_format,
                "width": image.width,
                "height": image.height,
                "bits": image.bits,
                "notes": image.notes + gate.notes,
                "metadata": image.metadata,
            },
            "quality_gate": gate.to_dict(),
            "familiarity": familiarity,
            "site_profile": site,
            "heatmap": heatmap,
            "timings": {k: round(v, 4) for k, v in timings.items()},
        }
        return EngineOutput(result=result, display=display, heatmap=fused)
