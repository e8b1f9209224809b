"""Fit a site profile (app/inference/site_profile.py) on this clinic's signed reads: numpy only,
no Django, so the page, the command line and the tests fit the same way.

For the target class an administrator chose (say COVID-19) and a sensitivity to meet (say 90%):

1. two candidate scores, each a logistic model on the pack's log-probabilities: the target's
   own probability alone (a recalibration), or all classes' (which also learns, for example,
   that at this clinic a film the pack calls Lung Opacity is usually the target);
2. each candidate's threshold is set on out-of-fold scores (3-fold) so that the target's
   sensitivity reaches the operating point plus a margin (below), and the candidate with the
   higher out-of-fold specificity at that point is kept (the simpler one on a tie);
3. the kept model is refitted on every read.

The figures a person decides on are cross-validated (5-fold, stratified): each fold's reads are
judged by a profile fitted without them, the whole of steps 1–3 included. "Before" is the pack's
own finding (the most probable class) on the same reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.inference.site_profile import PROBABILITY_FLOOR, SiteProfile
from app.statistics import measures

# The documented minimum: a profile is proposed only from at least this many signed reads of the
# target class and as many of the others (with fewer, the 95% interval of a 90% sensitivity spans
# more than 20 points and the threshold is a guess).
MIN_PER_GROUP = 30
OUTER_FOLDS = 5
INNER_FOLDS = 3
L2 = 1.0  # ridge penalty on the weights (not the intercept): keeps a small site's fit tame
# A threshold set exactly at the operating point on one sample of films falls below it on the
# next about half the time. The fit aims higher, at the sensitivity whose one-sided 90% lower
# bound is the operating point: 90% with 460 target reads aims at 91.8%, with 30 at 97%.
MARGIN_Z = 1.2816
TARGET_ONLY, ALL_CLASSES = "target class only", "all classes"


class NotEnoughReads(ValueError):
    """Too few signed reads to fit; says how many there are and how many are needed."""


@dataclass
class Fit:
    weights: np.ndarray  # one per class (zeros where the scorer ignores a class)
    intercept: float
    threshold: float
    scorer: str

    def probability(self, probabilities: np.ndarray) -> np.ndarray:
        logs = np.log(np.clip(probabilities, PROBABILITY_FLOOR, 1.0))
        return 1.0 / (1.0 + np.exp(-(logs @ self.weights + self.intercept)))

    def margins(self, probabilities: np.ndarray, target: int) -> np.ndarray:
        """How far each read is from being called the target, in log-odds: the target is the most
        probable class of the profile's distribution exactly when logit(q) - log(s) reaches
        logit(threshold), s being the largest share among the other classes
        (app/inference/site_profile.py)."""
        q = np.clip(self.probability(probabilities), 1e-12, 1 - 1e-12)
        others = np.delete(probabilities, target, axis=1)
        share = others.max(axis=1) / np.clip(others.sum(axis=1), 1e-12, None)
        return np.log(q / (1 - q)) - np.log(np.clip(share, 1e-12, 1.0))


@dataclass
class Proposal:
    profile: SiteProfile
    before: dict[str, Any]
    after: dict[str, Any]
    counts: dict[str, int]
    changed: list[int] = field(default_factory=list)  # indices of the reads whose finding the profile changes

    def evidence(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "counts": self.counts, "changed": len(self.changed),
                "method": f"logistic recalibration ({self.profile.evidence.get('scorer', '')}), threshold for sensitivity "
                          f"≥ {self.profile.target_sensitivity:.0%}, {OUTER_FOLDS}-fold cross-validated figures"}


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = L2, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Ridge-penalised logistic regression by Newton's method; returns (weights, intercept)."""
    n, k = features.shape
    x = np.hstack([features, np.ones((n, 1))])
    beta = np.zeros(k + 1)
    penalty = np.diag([l2] * k + [0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        gradient = x.T @ (p - labels) + penalty @ beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:k], float(beta[k])


def threshold_for(positive_margins: np.ndarray, sensitivity: float) -> float:
    """The highest threshold (a probability) at which at least `sensitivity` of these positives
    are called the target."""
    ordered = np.sort(positive_margins)[::-1]
    needed = max(1, math.ceil(sensitivity * len(ordered) - 1e-9))
    return float(np.clip(1.0 / (1.0 + math.exp(-ordered[needed - 1])), 1e-6, 1 - 1e-6))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Stratified folds: each holds its share of positives and negatives."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=int)
    for value in (0, 1):
        where = np.flatnonzero(labels == value)
        rng.shuffle(where)
        assignment[where] = np.arange(len(where)) % folds
    return [np.flatnonzero(assignment == f) for f in range(folds)]


def _scorer_fit(probabilities: np.ndarray, labels: np.ndarray, target: int, scorer: str) -> tuple[np.ndarray, float]:
    logs = np.log(np.clip(probabilities, PROBABILITY_FLOOR, 1.0))
    if scorer == TARGET_ONLY:
        w, b = fit_logistic(logs[:, [target]], labels)
        weights = np.zeros(probabilities.shape[1])
        weights[target] = w[0]
        return weights, b
    return fit_logistic(logs, labels)


def aimed_sensitivity(sensitivity: float, positives: int) -> float:
    return min(0.995, sensitivity + MARGIN_Z * math.sqrt(sensitivity * (1 - sensitivity) / max(positives, 1)))


def fit_rule(probabilities: np.ndarray, labels: np.ndarray, target: int, sensitivity: float, seed: int = 0) -> Fit:
    """Steps 1–3 of the module's description on these reads."""
    best: tuple[float, int, Fit] | None = None
    sensitivity = aimed_sensitivity(sensitivity, int(labels.sum()))
    for rank, scorer in enumerate((TARGET_ONLY, ALL_CLASSES)):
        out_of_fold = np.empty(len(labels))
        for fold in _folds(labels, INNER_FOLDS, seed):
            train = np.setdiff1d(np.arange(len(labels)), fold)
            weights, intercept = _scorer_fit(probabilities[train], labels[train], target, scorer)
            out_of_fold[fold] = Fit(weights, intercept, 0.5, scorer).margins(probabilities[fold], target)
        threshold = threshold_for(out_of_fold[labels == 1], sensitivity)
        specificity = float(np.mean(out_of_fold[labels == 0] < _logit(threshold)))
        weights, intercept = _scorer_fit(probabilities, labels, target, scorer)
        candidate = Fit(weights, intercept, threshold, scorer)
        if best is None or (specificity, -rank) > (best[0], -best[1]):
            best = (specificity, rank, candidate)
    return best[2]


def decide(probabilities: np.ndarray, fit: Fit, target: int) -> np.ndarray:
    """The finding (class index) each read would get with this fit."""
    others = probabilities.copy()
    others[:, target] = -1.0
    return np.where(fit.margins(probabilities, target) >= _logit(fit.threshold), target, others.argmax(axis=1))


def figures(found: Sequence[str], truths: Sequence[str], classes: Sequence[str], target: str) -> dict[str, Any]:
    """The target's sensitivity and specificity against the radiologists, and every class's."""
    rows = [*classes, "Other abnormality"]
    matrix = measures.confusion(list(zip(truths, found)), rows)
    per_class = {m.label: {"sensitivity": m.sensitivity.as_row(), "specificity": m.specificity.as_row(), "ppv": m.ppv.as_row()}
                 for m in measures.per_class(matrix, rows)[: len(classes)]}
    return {"target": per_class[target], "classes": per_class, "matrix": [row[: len(classes)] for row in matrix], "rows": rows}


def propose(
    probabilities: np.ndarray, truths: Sequence[str], classes: Sequence[str], target: str, sensitivity: float, *,
    pack_name: str, pack_version: str, name: str = "site profile", version: int = 1, seed: int = 0,
    familiarity_distances: Sequence[float] | None = None, pack_familiarity_threshold: float | None = None,
) -> Proposal:
    """A profile fitted on every read, with cross-validated before/after figures.

    probabilities: (reads, classes) the pack's own mean probabilities for each read film;
    truths: the radiologists' findings (a pack class, or "Other abnormality"; "Not assessable"
    reads are left out by the caller)."""
    classes = list(classes)
    if target not in classes:
        raise ValueError(f"{target} is not one of the pack's classes {classes}")
    keep = [i for i, t in enumerate(truths) if t in classes or t == "Other abnormality"]
    probabilities = np.asarray(probabilities, dtype=np.float64)[keep]
    truths = [truths[i] for i in keep]
    t = classes.index(target)
    labels = np.array([1 if truth == target else 0 for truth in truths])
    counts = {"reads": len(truths), "target": int(labels.sum()), "others": int(len(labels) - labels.sum())}
    if counts["target"] < MIN_PER_GROUP or counts["others"] < MIN_PER_GROUP:
        raise NotEnoughReads(
            f"A site profile needs at least {MIN_PER_GROUP} signed reads of {target} and {MIN_PER_GROUP} of other findings; "
            f"there are {counts['target']} and {counts['others']}."
        )
    before = figures([classes[i] for i in probabilities.argmax(axis=1)], truths, classes, target)
    cross_validated = np.empty(len(labels), dtype=int)
    for fold in _folds(labels, OUTER_FOLDS, seed):
        train = np.setdiff1d(np.arange(len(labels)), fold)
        cross_validated[fold] = decide(probabilities[fold], fit_rule(probabilities[train], labels[train], t, sensitivity, seed), t)
    after = figures([classes[i] for i in cross_validated], truths, classes, target)
    final = fit_rule(probabilities, labels, t, sensitivity, seed)
    familiarity = None
    if familiarity_distances is not None and len(familiarity_distances) >= MIN_PER_GROUP and pack_familiarity_threshold is not None:
        # This clinic's ordinary films: its 95th percentile, where that is above the pack's own.
        familiarity = max(pack_familiarity_threshold, float(np.percentile(np.asarray(familiarity_distances), 95)))
    profile = SiteProfile(
        pack_name=pack_name, pack_version=pack_version, classes=tuple(classes), target=target,
        weights=tuple(float(w) for w in final.weights), intercept=final.intercept, threshold=final.threshold,
        name=name, version=version, target_sensitivity=sensitivity, familiarity_threshold=familiarity,
        evidence={"scorer": final.scorer},
    )
    now = decide(probabilities, final, t)
    changed = [keep[i] for i in np.flatnonzero(now != probabilities.argmax(axis=1))]
    proposal = Proposal(profile, before, after, counts, changed)
    proposal.profile = replace(profile, evidence={**profile.evidence, **proposal.evidence()})
    return proposal
