"""Loaded by every Python process started with this folder on PYTHONPATH: torch, torchvision and
timm cannot be imported, as in the CPU-only edition (installer.spec with CXR_CPU_ONLY=1), which
ships without them. An import of any of them raises ImportError, so code that still needs torch
fails loudly instead of passing unnoticed."""

import sys

for _name in ("torch", "torchvision", "timm"):
    sys.modules[_name] = None  # "import torch" now raises ImportError
