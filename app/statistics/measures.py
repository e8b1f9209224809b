"""Agreement measures between the AI and the radiologists: confusion matrix, per-class
sensitivity, specificity, PPV and NPV with 95% Wilson intervals, Cohen's kappa, percentiles.
Pure Python (no Django), so the site calibration and the command line use the same arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054
# Below this many cases a proportion is shown with its interval but flagged "too few to judge":
# the 95% interval of 5/5 is 57%–100%.
MIN_CASES = 20


@dataclass(frozen=True)
class Proportion:
    """k of n, with its 95% Wilson score interval (never outside 0–1, sensible at 0 and n)."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n)

    @property
    def too_few(self) -> bool:
        return self.n < MIN_CASES

    def as_row(self) -> dict[str, object]:
        low, high = self.interval or (None, None)
        return {"k": self.k, "n": self.n, "value": self.value, "low": low, "high": high, "too_few": self.too_few}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    if n <= 0:
        return None
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ClassMeasures:
    label: str
    sensitivity: Proportion  # of the radiologist's positives, how many the AI called
    specificity: Proportion  # of the radiologist's negatives, how many the AI did not call
    ppv: Proportion  # of the AI's calls, how many the radiologist agreed with
    npv: Proportion


def confusion(pairs: Sequence[tuple[str, str]], labels: Sequence[str]) -> list[list[int]]:
    """matrix[i][j]: how many studies the radiologist read as labels[i] and the AI called labels[j]."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for truth, called in pairs:
        if truth in index and called in index:
            matrix[index[truth]][index[called]] += 1
    return matrix


def per_class(matrix: list[list[int]], labels: Sequence[str]) -> list[ClassMeasures]:
    total = sum(map(sum, matrix))
    rows = []
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        truth_positive = sum(matrix[i])
        called_positive = sum(row[i] for row in matrix)
        fp, fn = called_positive - tp, truth_positive - tp
        tn = total - tp - fp - fn
        rows.append(ClassMeasures(label, Proportion(tp, tp + fn), Proportion(tn, tn + fp), Proportion(tp, tp + fp), Proportion(tn, tn + fn)))
    return rows


def cohen_kappa(matrix: list[list[int]]) -> float | None:
    """Agreement beyond chance (1: perfect, 0: what chance gives); None when it is undefined."""
    total = sum(map(sum, matrix))
    if not total:
        return None
    observed = sum(matrix[i][i] for i in range(len(matrix))) / total
    expected = sum(sum(matrix[i]) * sum(row[i] for row in matrix) for i in range(len(matrix))) / (total * total)
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100), linear between the two nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
