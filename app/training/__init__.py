"""Training, calibration and evaluation of model packs (and of the quality gate)."""
