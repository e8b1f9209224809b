"""Offline chest X-ray AI workstation."""

__version__ = "0.1.0"
