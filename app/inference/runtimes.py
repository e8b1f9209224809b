"""Which inference runtimes this installation has: torch (with or without a CUDA GPU) and ONNX
Runtime. The CPU-only edition ships without torch, so nothing here imports it at module level."""

from __future__ import annotations

import importlib.util
import sys

# Why a pack without ONNX exports cannot run in the CPU-only edition (engine, pack import).
NEEDS_ONNX_EXPORTS = "this edition of the app runs packs on ONNX Runtime only (it has no torch), and this pack's members have no ONNX exports"


def torch_installed() -> bool:
    """Whether torch can be imported, without importing it (the ONNX path may never need it)."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None  # None: blocked (tests/without_torch)
    return importlib.util.find_spec("torch") is not None


def cuda_available() -> bool:
    """A CUDA GPU torch can use; False where torch is not installed."""
    if not torch_installed():
        return False
    import torch

    return torch.cuda.is_available()


def session_options():  # noqa: ANN201  (onnxruntime.SessionOptions)
    """Options for every ONNX Runtime session of the app: all graph optimisations, errors only in
    the log, and worker threads that sleep when idle. Each session has its own thread pool, and
    by default its threads spin after a run, taking the cores from the next member's session:
    on 2 cores the six members took 91 ms one after another spinning, 46 ms not (same images)."""
    import onnxruntime as ort

    # Belt and braces beside ORT_DISABLE_TELEMETRY (app/__init__.py): no telemetry events either.
    ort.disable_telemetry_events()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
