"""Benchmark the inference engine against the naive pattern, on this machine.

    python -m app.inference.benchmark [--pack DIR] [--images N] [--device cpu|cuda] [--out FILE.json]

Measures, for one pack and each backend that can run it here (torch; ONNX Runtime on the CPU when
the pack has exports): cold start to first result (a fresh process: imports, pack load and
checksum, first analysis); per-image latency p50/p95 with and without heatmaps; batch throughput;
peak GPU memory; and how far the backends' answers differ on the same films. In the same run it
measures the naive approach from the original design notes (every image: load each model from
disk, fp32, no reuse, autograd on) so the speed-ups are ratios measured on one machine. Images are
real radiographs from ../shared/datasets/cxr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.inference import architectures
from app.inference.engine import Engine, choose_backend
from app.inference.errors import QualityGateRefusal
from app.inference.quality_gate import QualityGate
from app.inference.ensemble import choose_device, describe_device
from app.inference.io.files import load_image
from app.inference.packs.manifest import ModelPack, read_manifest
from app.inference.preprocess import prepare, to_batch

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cxr"
BENCH_ARCHS = ["resnet18", "densenet121", "efficientnet_b0", "mobilenet_v3_large", "regnet_y_400mf", "shufflenet_v2_x1_0"]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    from app.inference.runtimes import onnx_available, onnx_version

    if onnx_available():
        info["onnxruntime"] = onnx_version()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def images_from(folder: Path, count: int) -> list[Path]:
    import csv

    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] != "Inconclusive"]
    step = max(1, len(rows) // count)
    return [folder / r["file"] for r in rows[::step][:count]]


def random_pack(folder: Path, input_size: int) -> Path:
    from app.inference.preprocess import PreprocessSpec
    from app.inference.packs.writer import MemberToWrite, write_pack

    return write_pack(
        folder,
        name="benchmark-random",
        version="0",
        classes=["COVID-19", "Normal", "Viral Pneumonia", "Lung Opacity"],
        members=[MemberToWrite(a, a) for a in BENCH_ARCHS],
        preprocessing=PreprocessSpec(input_size),
    )


def cold_start(pack_dir: Path, image: Path, device: str, backend: str) -> float:
    """Wall time of a fresh process from launch to its first printed result."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app.inference", "predict", str(image), "--pack", str(pack_dir), "--device", device, "--backend", backend, "--jsonl"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    if '"status": "ok"' not in done.stdout:
        raise RuntimeError(f"cold start run failed: {done.stdout[-500:]} {done.stderr[-2000:]}")
    return elapsed


def naive_analyse(pack: ModelPack, image_path: Path, device: torch.device, heatmap: bool) -> None:
    """The original design's pattern: per image, per model: load from disk, fp32, run, discard."""
    pixels = load_image(image_path).pixels
    prepared = prepare(pixels, pack.preprocessing)
    x = torch.from_numpy(to_batch(prepared, pack.members[0].mean, pack.members[0].std)).to(device)
    for spec in pack.members:
        state = torch.load(spec.weights_path(pack.root), map_location="cpu", weights_only=True)
        model = architectures.build(spec.architecture, num_classes=len(pack.classes))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        model = model.to(device).eval()
        if heatmap:
            activations: list[torch.Tensor] = []
            handle = architectures.cam_layer(model, spec.architecture).register_forward_hook(
                lambda m, i, o: activations.append(o)
            )
            logits = model(x)
            handle.remove()
            grads = torch.autograd.grad(logits[0, int(logits.argmax())], activations[0])[0]
            (grads.mean(dim=(2, 3), keepdim=True) * activations[0]).sum(1).relu()
        else:
            with torch.no_grad():
                model(x)
        del model, state


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = choose_device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="cxr-bench-"))
    pack_dir = args.pack or random_pack(tmp / "pack", args.input_size)
    pack = read_manifest(pack_dir)
    gate = QualityGate()
    images = []
    for path in images_from(args.data, args.images + 10):
        try:
            gate.check(load_image(path))  # time analyses, not refusals
            images.append(path)
        except QualityGateRefusal:
            continue
    images = images[: args.images]
    report: dict[str, Any] = {
        "machine": machine(),
        "device": describe_device(device),
        "pack": pack.summary() | {"input_size": pack.preprocessing.input_size},
        "pack_weights": "bundled" if args.pack else "random initialisation (speed does not depend on weight values)",
        "images": len(images),
    }
    backends = ["torch"]
    if device.type == "cpu" and choose_backend(pack, "auto", "cpu") == "onnx":
        backends.append("onnx")
    report["backends"] = {}
    answers: dict[str, list[dict[str, float]]] = {}
    for backend in backends:
        measured, answers[backend] = measure_backend(args, pack, pack_dir, images, device, backend)
        report["backends"][backend] = measured
    if len(backends) == 2:
        pairs = list(zip(answers["torch"], answers["onnx"], strict=True))
        report["onnx_against_torch"] = {
            "images": len(pairs),
            "same_finding": sum(max(a, key=a.get) == max(b, key=b.get) for a, b in pairs),
            "max_probability_difference": max(abs(a[k] - b[k]) for a, b in pairs for k in a),
        }

    naive_images = images[: args.naive_images]
    for heatmap in (True, False):
        t = time.perf_counter()
        for path in naive_images:
            naive_analyse(pack, path, device, heatmap)
        per_image = (time.perf_counter() - t) / len(naive_images)
        key = "with_heatmap" if heatmap else "without_heatmap"
        report[f"naive_{key}_s_per_image"] = round(per_image, 4)
        for measured in report["backends"].values():
            measured[f"speedup_{key}"] = round(per_image / measured[f"latency_{key}_s"]["mean"], 1)
    report["peak_ram_mb"] = round(peak_rss_mb(), 1)
    return report


def measure_backend(
    args: argparse.Namespace, pack: ModelPack, pack_dir: Path, images: list[Path], device: torch.device, backend: str,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """One backend's numbers, and its consensus probabilities per image (for the comparison)."""
    measured: dict[str, Any] = {"cold_start_to_first_result_s": round(cold_start(pack_dir, images[0], device.type, backend), 3)}
    started = time.perf_counter()
    engine = Engine.for_pack(pack, device=str(device), memory_budget_mb=args.memory_budget_mb, backend=backend)
    measured["engine_load_and_warm_up_s"] = round(time.perf_counter() - started, 3)
    measured["device"] = engine.device_name
    measured["resident"] = engine.ensemble.resident
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    answers = []
    steps: dict[str, list[float]] = {}
    for heatmap in (True, False):
        latencies = []
        for path in images:
            t = time.perf_counter()
            analysis = engine.analyse(path, heatmap=heatmap)
            latencies.append(time.perf_counter() - t)
            if heatmap:
                answers.append(analysis.result["consensus"]["probabilities"])
                for step, seconds in analysis.result["timings"].items():
                    steps.setdefault(step, []).append(seconds)
        if heatmap:
            measured["median_step_s_with_heatmap"] = {step: round(percentile(values, 50), 4) for step, values in steps.items()}
        key = "with_heatmap" if heatmap else "without_heatmap"
        measured[f"latency_{key}_s"] = {
            "p50": round(percentile(latencies, 50), 4),
            "p95": round(percentile(latencies, 95), 4),
            "mean": round(statistics.fmean(latencies), 4),
        }

    # Throughput: batches of preprocessed images through every member, no heatmap, no gate.
    prepared = [prepare(load_image(p).pixels, pack.preprocessing) for p in images]
    first = pack.members[0]
    for batch_size in (1, args.batch):
        t = time.perf_counter()
        for start in range(0, len(prepared), batch_size):
            engine.ensemble.run(to_batch(prepared[start : start + batch_size], first.mean, first.std), heatmap=False)
        measured[f"throughput_batch{batch_size}_images_per_s"] = round(len(prepared) / (time.perf_counter() - t), 2)
    if device.type == "cuda":
        measured["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return measured, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", type=Path, help="pack folder (default: a random six-architecture pack)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--naive-images", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--input-size", type=int, default=224, help="for the random pack only")
    parser.add_argument("--device")
    parser.add_argument("--memory-budget-mb", type=int, default=6144)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
