"""Per-member temperature scaling and per-class operating thresholds, fitted on validation data.

Threshold rule (documented in every model card): for each class, one-vs-rest, the highest
probability threshold at which the validation sensitivity for that class is still at least
TARGET_SENSITIVITY. A class missing from the validation split keeps 0.5.
"""

from __future__ import annotations

import numpy as np

from app.inference.consensus import calibrated_probabilities

TARGET_SENSITIVITY = 0.90
_LOG_T_GRID = np.linspace(np.log(0.25), np.log(8.0), 401)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    probs = calibrated_probabilities(logits, temperature)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.25, 8] minimising validation negative log-likelihood (grid search: robust, deterministic)."""
    if len(labels) == 0:
        return 1.0
    losses = [nll(logits, labels, float(np.exp(t))) for t in _LOG_T_GRID]
    return float(np.exp(_LOG_T_GRID[int(np.argmin(losses))]))


def choose_thresholds(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, float]:
    thresholds: dict[str, float] = {}
    for index, name in enumerate(classes):
        positives = np.sort(probs[labels == index, index])
        if len(positives) == 0:
            thresholds[name] = 0.5
            continue
        # Keep at least TARGET_SENSITIVITY of the positives at or above the threshold.
        allowed_misses = int(np.floor((1 - TARGET_SENSITIVITY) * len(positives) + 1e-9))
        thresholds[name] = float(np.clip(positives[allowed_misses], 0.01, 0.99))
    return thresholds
