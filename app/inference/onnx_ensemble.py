"""The ensemble on ONNX Runtime: the CPU path (no GPU in most field clinics).

Same contract as ensemble.Ensemble (one MemberRun per member, heatmaps for each image's consensus
class), from the members' ONNX exports (app/ml/export_onnx.py), each checked against the manifest's
checksum before ONNX Runtime opens it. Measured on a 2-core CPU, the exported members run 3-5 times
faster than torch's eager forward pass (docs/performance.md), and the heatmap needs no backward
pass: each export also returns every class's activation map, and the consensus class's map is
picked here and resized exactly as the torch path resizes its Grad-CAM.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from app.inference.consensus import calibrated_probabilities
from app.inference.ensemble import MemberRun
from app.inference.errors import ModelPackError
from app.inference.model_pack import ModelPack, verify_member_file


def session_options():  # noqa: ANN201  (onnxruntime.SessionOptions)
    """Options for every ONNX Runtime session of the app: all graph optimisations, errors only in
    the log, and worker threads that sleep when idle. Each session has its own thread pool, and
    by default its threads spin after a run, taking the cores from the next member's session:
    on 2 cores the six members took 91 ms one after another spinning, 46 ms not (same images)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def runtime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


class OnnxEnsemble:
    # Every member stays loaded: ONNX Runtime keeps the float32 weights in host memory (about
    # 150 MB for the bundled pack), far below what a workstation has.
    resident = True

    def __init__(self, pack: ModelPack, *, verify: bool = True, threads: int = 0) -> None:
        import onnxruntime as ort

        missing = [m.name for m in pack.members if not m.onnx]
        if missing:
            raise ModelPackError(f"members {', '.join(missing)} have no ONNX export (python -m app.ml.export_onnx)", pack=pack.name)
        self.pack = pack
        options = session_options()
        options.intra_op_num_threads = threads  # 0: one per physical core
        self._sessions = {}
        for spec in pack.members:
            path = verify_member_file(pack, spec, onnx=True) if verify else pack.root / spec.onnx
            try:
                self._sessions[spec.name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001  (ONNX Runtime raises its own exception types)
                raise ModelPackError(f"ONNX file {spec.onnx!r} cannot be opened ({exc.__class__.__name__})", pack=pack.name, member=spec.name) from exc
        self.threads = threads

    @property
    def device_name(self) -> str:
        import os

        threads = self.threads or os.cpu_count() or 1
        return f"CPU ({threads} threads, ONNX Runtime {runtime_version()})"

    def run(self, batch: np.ndarray, *, heatmap: bool, on_member: Callable[[int, str], None] | None = None) -> list[MemberRun]:
        """batch: (N, 3, S, S) float32 from preprocess.to_batch(). Returns one MemberRun per member."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        outputs = ["logits", "cams"] if heatmap else ["logits"]
        runs: list[MemberRun] = []
        all_cams: list[np.ndarray] = []
        for spec in self.pack.members:
            started = time.perf_counter()
            result = self._sessions[spec.name].run(outputs, {"image": x})
            logits = result[0].astype(np.float32)
            runs.append(MemberRun(spec=spec, logits=logits, probabilities=calibrated_probabilities(logits, spec.temperature), seconds=time.perf_counter() - started))
            if heatmap:
                all_cams.append(result[1])
            if on_member:
                on_member(len(runs), spec.name)
        if heatmap:
            target = np.mean([r.probabilities for r in runs], axis=0).argmax(axis=1)  # (N,)
            size = x.shape[-1]
            for run, cams in zip(runs, all_cams, strict=True):
                started = time.perf_counter()
                run.cam = class_heatmap(cams, target, size)
                run.seconds += time.perf_counter() - started
        return runs


def class_heatmap(cams: np.ndarray, target: np.ndarray, size: int) -> np.ndarray:
    """(N, C, h, w) activation maps -> (N, size, size) in [0, 1] for each image's target class:
    ReLU, bilinear resize with half-pixel centres (as torch's interpolate, align_corners=False),
    divided by its peak."""
    maps = []
    for n, c in enumerate(target):
        cam = np.maximum(cams[n, c].astype(np.float32), 0.0)
        cam = cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR)
        maps.append(cam / max(float(cam.max()), 1e-8))
    return np.stack(maps).astype(np.float32)
