import numpy as np
import pytest

from app.inference.consensus import calibrated_probabilities, combine
from app.inference.packs.manifest import ConsensusRule

CLASSES = ("COVID-19", "Normal", "Viral Pneumonia", "Lung Opacity")
THRESHOLDS = {c: 0.5 for c in CLASSES}


def test_temperature_softens_probabilities() -> None:
    logits = np.array([[4.0, 0.0, 0.0, 0.0]])
    sharp = calibrated_probabilities(logits, 1.0)
    soft = calibrated_probabilities(logits, 2.0)
    assert sharp[0, 0] > soft[0, 0] > 0.25
    np.testing.assert_allclose(soft.sum(), 1.0)


def test_a_confident_unanimous_ensemble_needs_no_review() -> None:
    probs = np.array([[0.9, 0.05, 0.03, 0.02]] * 6)
    result = combine(probs, CLASSES, ConsensusRule(), THRESHOLDS)
    assert result["finding"] == "COVID-19"
    assert result["agreement"] == 6
    assert result["agreement_text"] == "6 of 6 models"
    assert result["confidence"] == pytest.approx(0.9)
    assert result["needs_review"] is False
    assert result["above_threshold"] == ["COVID-19"]


def test_low_confidence_needs_review() -> None:
    probs = np.array([[0.6, 0.3, 0.05, 0.05]] * 6)
    result = combine(probs, CLASSES, ConsensusRule(review_threshold=0.75), THRESHOLDS)
    assert result["needs_review"] is True
    assert "below the review threshold of 75%" in result["review_reasons"][0]


def test_low_agreement_needs_review_and_majority_is_reported() -> None:
    probs = np.array(
        [
            [0.05, 0.9, 0.03, 0.02],
            [0.05, 0.9, 0.03, 0.02],
            [0.97, 0.01, 0.01, 0.01],
            [0.97, 0.01, 0.01, 0.01],
            [0.97, 0.01, 0.01, 0.01],
            [0.3, 0.4, 0.2, 0.1],
        ]
    )
    result = combine(probs, CLASSES, ConsensusRule(), THRESHOLDS)
    assert result["finding"] == "COVID-19"  # mean of calibrated probabilities
    assert result["votes"] == {"COVID-19": 3, "Normal": 3, "Viral Pneumonia": 0, "Lung Opacity": 0}
    assert result["majority_vote"] == "COVID-19"  # tie broken by the mean probability
    assert result["agreement"] == 3
    assert any("only 3 of 6 models agree" in r for r in result["review_reasons"])
    assert 0 < result["uncertainty"]["normalised_entropy"] < 1


def test_it_works_for_any_class_list() -> None:
    probs = np.array([[0.2, 0.8], [0.1, 0.9]])
    result = combine(probs, ("Normal", "Abnormal"), ConsensusRule(), {"Normal": 0.5, "Abnormal": 0.5})
    assert result["finding"] == "Abnormal"
    assert result["probabilities"] == pytest.approx({"Normal": 0.15, "Abnormal": 0.85})
