"""What a member trains on: augmented views that take the collection away, and weights that let
no class or source dominate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.inference.preprocess import PreprocessSpec, prepare
from app.inference.sample import chest_phantom
from app.training.collection_augment import MIN_SHORT_SIDE, degrade
from app.training.datasets import Sample
from app.training.film_views import view_weights


def test_views_are_valid_pixels_reproducible_and_reach_every_resolution() -> None:
    film = chest_phantom(512)
    sides = []
    for seed in range(60):
        view = degrade(film, np.random.default_rng([7, seed]))
        assert view.dtype == np.float32 and 0.0 <= view.min() and view.max() <= 1.0
        prepare(view, PreprocessSpec(224))  # the app's own contract holds for every view
        sides.append(min(view.shape))
        np.testing.assert_array_equal(view, degrade(film, np.random.default_rng([7, seed])))
    assert min(sides) < 128 and min(sides) >= MIN_SHORT_SIDE  # down to small copies, never below 64 px
    assert max(sides) >= 435  # and often near full size (crops keep at least 85% of a side)


def test_classes_weigh_the_same_and_sources_the_same_inside_a_class() -> None:
    def films(source: str, label: str, count: int) -> list[Sample]:
        return [Sample(Path(f"{source}-{label}-{i}.png"), label, f"{source}-{i}", source) for i in range(count)]

    samples = films("big", "Normal", 900) + films("small", "Normal", 100) + films("big", "COVID-19", 300) + films("nih", "Lung Opacity", 50)
    weights = view_weights(samples, ["COVID-19", "Lung Opacity", "Normal"], {"nih": 2.0})
    total = {}
    for sample, weight in zip(samples, weights, strict=True):
        total[(sample.source, sample.label)] = total.get((sample.source, sample.label), 0.0) + float(weight)
    assert abs(total[("big", "Normal")] - total[("small", "Normal")]) < 1e-3  # 900 films weigh as much as 100
    assert abs(total[("big", "Normal")] + total[("small", "Normal")] - total[("big", "COVID-19")]) < 1e-3
    assert abs(total[("nih", "Lung Opacity")] - 2 * total[("big", "COVID-19")]) < 1e-3  # the same-source contrast weighs more
    assert abs(float(weights.mean()) - 1.0) < 1e-6
