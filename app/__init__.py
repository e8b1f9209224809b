"""Offline chest X-ray AI workstation."""

import os

__version__ = "0.1.0"

# ONNX Runtime (1.32 on Linux and macOS) ships Microsoft's 1DS telemetry: it writes a device id and
# an event store under ~/.cache/Microsoft and looks up mobile.events.data.microsoft.com to upload
# them. Nothing here may go over the network, so it is switched off for every process of the app
# before anything can import onnxruntime (the variable is read once, when the library loads).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
