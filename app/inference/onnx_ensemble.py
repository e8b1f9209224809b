"""The ensemble on ONNX Runtime: the CPU path (no GPU in most field clinics).

Same contract as ensemble.Ensemble (one MemberRun per member, heatmaps for each image's consensus
class), from the members' ONNX exports (app/training/export_onnx.py), each checked against the manifest's
checksum before ONNX Runtime opens it. Measured on a 2-core CPU, the exported members run 3-5 times
faster than torch's eager forward pass (docs/performance.md), and the heatmap needs no backward
pass: each export also returns every class's activation map, and the consensus class's map is
picked here and resized exactly as the torch path resizes its Grad-CAM.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from app.inference.consensus import MemberRun, calibrated_probabilities
from app.inference.errors import ModelPackError
from app.inference.packs.manifest import MemberSpec, ModelPack, verify_member_file
from app.inference.runtimes import onnx_version, session_options


class OnnxEnsemble:
    """Members run side by side, one core each: at batch 1 a small network cannot keep two cores
    busy on its own (each layer is too short to split well), six members on 2 cores took 63 ms
    one after another with two threads each and 34 ms two at a time with one thread each."""

    # Every member stays loaded: ONNX Runtime keeps the float32 weights in host memory (about
    # 150 MB for the bundled pack), far below what a workstation has.
    resident = True

    def __init__(self, pack: ModelPack, *, verify: bool = True, parallel: int = 0) -> None:
        """parallel: members run at once (default: one per CPU core, at most one per member)."""
        import onnxruntime as ort

        missing = [m.name for m in pack.members if not m.onnx]
        if missing:
            raise ModelPackError(f"members {', '.join(missing)} have no ONNX export (python -m app.training.export_onnx)", pack=pack.name)
        self.pack = pack
        self.parallel = max(1, min(parallel or os.cpu_count() or 1, len(pack.members)))
        self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="onnx-member")
        options = session_options()
        options.intra_op_num_threads = 1
        self._sessions = {}
        for spec in pack.members:
            path = verify_member_file(pack, spec, onnx=True) if verify else pack.root / spec.onnx
            try:
                self._sessions[spec.name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001  (ONNX Runtime raises its own exception types)
                raise ModelPackError(f"ONNX file {spec.onnx!r} cannot be opened ({exc.__class__.__name__})", pack=pack.name, member=spec.name) from exc

    @property
    def device_name(self) -> str:
        return f"CPU ({self.parallel} threads, ONNX Runtime {onnx_version()})"

    def run(self, batch: np.ndarray, *, heatmap: bool, on_member: Callable[[int, str], None] | None = None) -> list[MemberRun]:
        """batch: (N, 3, S, S) float32 from preprocess.to_batch(). Returns one MemberRun per member."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        outputs = ["logits", "cams"] if heatmap else ["logits"]

        def forward(spec: MemberSpec) -> tuple[list[np.ndarray], float]:
            started = time.perf_counter()
            return self._sessions[spec.name].run(outputs, {"image": x}), time.perf_counter() - started

        runs: list[MemberRun] = []
        all_cams: list[np.ndarray] = []
        # Results are taken in the pack's order, and on_member is called from this thread (it may
        # write progress to the database, whose connections belong to threads).
        for spec, future in [(spec, self._pool.submit(forward, spec)) for spec in self.pack.members]:
            result, seconds = future.result()
            logits = result[0].astype(np.float32)
            runs.append(MemberRun(spec=spec, logits=logits, probabilities=calibrated_probabilities(logits, spec.temperature), seconds=seconds))
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
