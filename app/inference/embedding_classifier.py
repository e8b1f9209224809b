"""A logistic regression on the principal components of the quality gate's embedding: the shape
of the gate's radiograph classifier and of the chest-coverage check (score >= threshold passes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

FIELDS = ("pca_mean", "components", "scaler_mean", "scaler_scale", "coef")


@dataclass
class EmbeddingClassifier:
    pca_mean: np.ndarray
    components: np.ndarray  # (K, 1280)
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        reduced = (embeddings - self.pca_mean) @ self.components.T
        return ((reduced - self.scaler_mean) / self.scaler_scale) @ self.coef + self.intercept

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        out = {prefix + name: getattr(self, name).astype(np.float32) for name in FIELDS}
        out[prefix + "intercept"] = np.float32(self.intercept)
        out[prefix + "threshold"] = np.float32(self.threshold)
        return out

    @classmethod
    def from_arrays(cls, data: Mapping[str, np.ndarray], prefix: str = "") -> EmbeddingClassifier:
        return cls(
            **{name: np.asarray(data[prefix + name], dtype=np.float64) for name in FIELDS},
            intercept=float(data[prefix + "intercept"]),
            threshold=float(data[prefix + "threshold"]),
        )
