"""Classification metrics with bootstrap confidence intervals, and calibration error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

BOOTSTRAP_SAMPLES = 1000
ECE_BINS = 15
# The ROC point a screening tool is usually judged at: sensitivity while specificity stays >= 90%.
ROC_SPECIFICITY = 0.90


def _safe_ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def binary_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum(y_true & y_pred))
    tn = int(np.sum(~y_true & ~y_pred))
    fp = int(np.sum(~y_true & y_pred))
    fn = int(np.sum(y_true & ~y_pred))
    return tp, tn, fp, fn


def class_metrics(labels: np.ndarray, probs: np.ndarray, predicted: np.ndarray, index: int) -> dict[str, float | None]:
    y_true, y_pred = labels == index, predicted == index
    tp, tn, fp, fn = binary_counts(y_true, y_pred)
    auroc = sens_at_spec = None
    if 0 < y_true.sum() < len(y_true):
        auroc = float(roc_auc_score(y_true, probs[:, index]))
        sens_at_spec = sensitivity_at_specificity(y_true, probs[:, index], ROC_SPECIFICITY)
    return {
        "sensitivity": _safe_ratio(tp, tp + fn),
        "specificity": _safe_ratio(tn, tn + fp),
        "ppv": _safe_ratio(tp, tp + fp),
        "npv": _safe_ratio(tn, tn + fn),
        "auroc": auroc,
        "sensitivity_at_90_specificity": sens_at_spec,
    }


def sensitivity_at_specificity(y_true: np.ndarray, scores: np.ndarray, specificity: float) -> float:
    """The highest sensitivity on the ROC curve among thresholds whose specificity is >= `specificity`."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    allowed = fpr <= 1 - specificity + 1e-12
    return float(tpr[allowed].max()) if allowed.any() else 0.0


def macro_auroc(labels: np.ndarray, probs: np.ndarray) -> float | None:
    """Mean one-vs-rest AUROC over the classes present with both outcomes."""
    values = [roc_auc_score(labels == i, probs[:, i]) for i in range(probs.shape[1]) if 0 < np.sum(labels == i) < len(labels)]
    return float(np.mean(values)) if values else None


def bootstrap_ci(
    labels: np.ndarray, probs: np.ndarray, predicted: np.ndarray, statistic: Callable[..., dict[str, float | None]], seed: int = 0
) -> dict[str, list[float] | None]:
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    n = len(labels)
    for _ in range(BOOTSTRAP_SAMPLES):
        index = rng.integers(0, n, n)
        for key, value in statistic(labels[index], probs[index], predicted[index]).items():
            if value is not None:
                draws.setdefault(key, []).append(value)
    return {key: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if len(v) > BOOTSTRAP_SAMPLES // 2 else None for key, v in draws.items()}


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray) -> tuple[float, list[dict[str, float]]]:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, ECE_BINS + 1)
    ece, bins = 0.0, []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            gap = abs(float(correct[inside].mean()) - float(confidence[inside].mean()))
            ece += gap * inside.mean()
            bins.append({"low": float(low), "high": float(high), "count": int(inside.sum()), "accuracy": float(correct[inside].mean()), "confidence": float(confidence[inside].mean())})
    return float(ece), bins


def full_report(labels: np.ndarray, probs: np.ndarray, classes: list[str], seed: int = 0) -> dict[str, Any]:
    predicted = probs.argmax(axis=1)
    per_class: dict[str, Any] = {}
    for index, name in enumerate(classes):
        point = class_metrics(labels, probs, predicted, index)
        ci = bootstrap_ci(labels, probs, predicted, lambda y, p, q, i=index: class_metrics(y, p, q, i), seed)
        per_class[name] = {"support": int(np.sum(labels == index)), **{k: {"value": v, "ci95": ci.get(k)} for k, v in point.items()}}
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for true, pred in zip(labels, predicted, strict=True):
        confusion[true, pred] += 1
    ece, bins = expected_calibration_error(labels, probs)
    macro_ci = bootstrap_ci(labels, probs, predicted, lambda y, p, q: {"macro_auroc": macro_auroc(y, p)}, seed)
    return {
        "n": int(len(labels)),
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else None,
        "macro_auroc": {"value": macro_auroc(labels, probs), "ci95": macro_ci.get("macro_auroc")},
        "per_class": per_class,
        "confusion_matrix": {"rows_true_cols_predicted": classes, "counts": confusion.tolist()},
        "ece": ece,
        "reliability_bins": bins,
    }


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if labels.all() or not labels.any():
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr
