"""A site profile: fitted on signed reads, checked loudly, applied by the engine only to later
analyses; the figures are cross-validated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.analysis.site_calibration import fitting
from app.inference.site_profile import SiteProfile, SiteProfileError

CLASSES = ["COVID-19", "Lung Opacity", "Normal", "Viral Pneumonia"]


def clinic(n_target: int = 120, n_normal: int = 80, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """A clinic whose COVID-19 films the pack mostly calls Lung Opacity (as on films from new
    collections), and whose normals it calls Normal."""
    rng = np.random.default_rng(seed)
    rows, truths = [], []
    for _ in range(n_target):
        p = rng.dirichlet([2.0, 5.0, 1.0, 0.5])  # COVID-19 mostly second to Lung Opacity
        rows.append(p)
        truths.append("COVID-19")
    for _ in range(n_normal):
        rows.append(rng.dirichlet([0.3, 1.0, 8.0, 0.5]))
        truths.append("Normal")
    return np.array(rows), truths


def test_it_meets_the_operating_point_and_says_what_it_did_before() -> None:
    probabilities, truths = clinic()
    proposal = fitting.propose(probabilities, truths, CLASSES, "COVID-19", 0.9, pack_name="p", pack_version="1")
    before, after = proposal.before["target"], proposal.after["target"]
    assert before["sensitivity"]["value"] < 0.5  # the pack alone misses most of them
    assert after["sensitivity"]["value"] >= 0.85  # cross-validated, so a little noise around 90%
    assert after["specificity"]["value"] >= 0.85
    assert proposal.counts == {"reads": 200, "target": 120, "others": 80}
    assert proposal.changed  # it would have changed past findings, and says which
    assert proposal.profile.evidence["after"]["target"]["sensitivity"]["n"] == 120


def test_too_few_reads_are_refused_with_the_counts() -> None:
    probabilities, truths = clinic(n_target=10, n_normal=80)
    with pytest.raises(fitting.NotEnoughReads, match="at least 30 signed reads of COVID-19 .* there are 10 and 80"):
        fitting.propose(probabilities, truths, CLASSES, "COVID-19", 0.9, pack_name="p", pack_version="1")


def test_the_finding_is_the_most_probable_class_of_the_site_distribution() -> None:
    probabilities, truths = clinic()
    proposal = fitting.propose(probabilities, truths, CLASSES, "COVID-19", 0.9, pack_name="p", pack_version="1")
    profile = proposal.profile
    adjusted = profile.adjust(probabilities)
    assert np.allclose(adjusted.sum(axis=1), 1.0)
    # What the page shows (the most probable class) is what the fit decided: no hidden rule.
    fit = fitting.Fit(np.array(profile.weights), profile.intercept, profile.threshold, "")
    assert list(adjusted.argmax(axis=1)) == list(fitting.decide(probabilities, fit, 0))
    # The other classes keep the pack's own proportions among themselves.
    ratio = adjusted[:, 1:] / probabilities[:, 1:]
    assert np.allclose(ratio, ratio[:, :1])


def test_a_profile_file_round_trips_and_bad_ones_are_refused_loudly(tmp_path) -> None:  # noqa: ANN001
    probabilities, truths = clinic()
    profile = fitting.propose(probabilities, truths, CLASSES, "COVID-19", 0.9, pack_name="p", pack_version="1").profile
    path = tmp_path / "profile.json"
    profile.write(path)
    again = SiteProfile.read(path)
    assert again == profile
    data = json.loads(path.read_text())
    for broken, message in [
        ({**data, "format": "other"}, "Not a site profile"),
        ({**data, "target": "Tuberculosis"}, "not one of its classes"),
        ({**data, "threshold": 1.5}, "not between 0 and 1"),
        ({**data, "weights": [1.0]}, "1 weights for 4 classes"),
        ({**data, "intercept": float("nan")}, "not finite"),
        ({k: v for k, v in data.items() if k != "weights"}, "incomplete or malformed"),
    ]:
        with pytest.raises(SiteProfileError, match=message):
            SiteProfile.from_dict(broken)
    with pytest.raises(SiteProfileError, match="was fitted for p 1"):
        profile.check_pack("cxr-4class-lite", "3.0.0", tuple(CLASSES))


def test_the_clinic_s_ordinary_films_are_taken_into_the_familiarity_check() -> None:
    probabilities, truths = clinic()
    distances = list(np.linspace(1.0, 3.0, len(truths)))
    proposal = fitting.propose(probabilities, truths, CLASSES, "COVID-19", 0.9, pack_name="p", pack_version="1",
                               familiarity_distances=distances, pack_familiarity_threshold=1.5)
    assert proposal.profile.familiarity_threshold == pytest.approx(np.percentile(distances, 95))
    tighter = fitting.propose(probabilities, truths, CLASSES, "COVID-19", 0.9, pack_name="p", pack_version="1",
                              familiarity_distances=distances, pack_familiarity_threshold=5.0)
    assert tighter.profile.familiarity_threshold == 5.0  # never stricter than the pack's own
