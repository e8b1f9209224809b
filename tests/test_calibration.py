import numpy as np
import pytest

from app.training.calibration import choose_thresholds, fit_temperature


def test_it_recovers_the_temperature_of_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, (4000, 3))
    probs = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    overconfident = true_logits * 2.5  # a model that is 2.5x too sure
    assert fit_temperature(overconfident, labels) == pytest.approx(2.5, rel=0.1)


def test_thresholds_keep_the_target_sensitivity() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    probs = np.zeros((20, 2))
    probs[:10, 0] = np.linspace(0.05, 0.95, 10)
    probs[10:, 0] = 0.1
    probs[:, 1] = 1 - probs[:, 0]
    thresholds = choose_thresholds(probs, labels, ["A", "B"])
    assert np.mean(probs[:10, 0] >= thresholds["A"]) >= 0.9
    assert thresholds["A"] == pytest.approx(0.15)
