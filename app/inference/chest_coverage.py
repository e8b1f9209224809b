"""Does the film show the whole chest? A quarter of a film, one lung, a shoulder or a film cut off
at the lung bases is still "a chest radiograph" to the radiograph classifier, and a pack asked
about it answers with confidence about lungs it cannot see.

A logistic regression on the quality gate's embedding (the same 1280 ImageNet features, so the
check costs no extra network pass): whole frontal films against synthetic part-films cut from
them (quarters, halves, one lung, upper and lower parts, off-centre windows). Fitted and measured
by app/training/fit_chest_coverage.py, on patients held out of the fit and on sources the fit
never saw (docs/chest-coverage.json).

Two thresholds, because a tightly collimated ICU film (lungs filling the frame, bases cut) looks
much like a part of a larger film: below `refuse_below` (the clearest quarter of part-films) the
film is refused; between it and `review_below` the film is analysed but the result needs review
("the film may not show the whole chest"). No whole film of any source measured was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.inference.embedding_classifier import EmbeddingClassifier

COVERAGE_FILE = Path(__file__).with_name("chest_coverage.npz")


@dataclass
class CoverageCheck:
    classifier: EmbeddingClassifier  # its threshold: below it the result needs review
    refuse_below: float

    @property
    def review_below(self) -> float:
        return self.classifier.threshold

    def score(self, embedding: np.ndarray) -> float:
        return float(self.classifier.score(embedding[None])[0])


def save_coverage(path: Path, check: CoverageCheck, fitted_on: str) -> None:
    np.savez_compressed(path, **check.classifier.arrays(), refuse_below=np.float32(check.refuse_below), fitted_on=np.array(fitted_on))


def load_coverage(path: Path = COVERAGE_FILE) -> CoverageCheck | None:
    """None when the app ships without the check (a build that has not fitted it yet)."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return CoverageCheck(EmbeddingClassifier.from_arrays(data), float(data["refuse_below"]))
