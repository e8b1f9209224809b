"""How member outputs become one finding: mean of calibrated probabilities, plus majority vote.

Pure functions on arrays, so the rule is easy to read and to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.inference.packs.manifest import ConsensusRule, MemberSpec


@dataclass
class MemberRun:
    """One member's output for a batch, from either backend (ensemble.py, onnx_ensemble.py)."""

    spec: MemberSpec
    logits: np.ndarray  # (N, C) float32
    probabilities: np.ndarray  # (N, C) calibrated
    seconds: float
    cam: np.ndarray | None = None  # (N, S, S) in [0, 1]


def calibrated_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of logits / T (T fitted on the validation split; T > 1 softens overconfidence)."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def combine(
    member_probs: np.ndarray, classes: tuple[str, ...], rule: ConsensusRule, thresholds: dict[str, float],
    mean: np.ndarray | None = None,
) -> dict[str, Any]:
    """member_probs: (members, classes) calibrated probabilities for one image. `mean`: the
    consensus probabilities when they are not the members' average (a site profile recalibrates
    the pack's average, as it was fitted)."""
    n_members, n_classes = member_probs.shape
    mean = member_probs.mean(axis=0) if mean is None else mean
    top = int(np.argmax(mean))
    votes = member_probs.argmax(axis=1)
    counts = np.bincount(votes, minlength=n_classes)
    # Majority vote; a tie is broken by the mean probability.
    majority = int(max(range(n_classes), key=lambda c: (counts[c], mean[c])))
    agreement = int(counts[top])
    entropy = float(-(mean * np.log(np.clip(mean, 1e-12, 1.0))).sum() / math.log(n_classes))
    spread = float(member_probs[:, top].std())

    # Each reason twice: as English text (logs, JSON readers) and as a code with its numbers, from
    # which the app writes the reason in the reader's language (app/core/templatetags/results.py).
    details: list[dict[str, Any]] = []
    if mean[top] < rule.review_threshold:
        details.append({"code": "low_confidence", "confidence": float(mean[top]), "threshold": rule.review_threshold})
    if agreement / n_members < rule.min_agreement:
        details.append({"code": "low_agreement", "agreement": agreement, "members": n_members})
    if majority != top:
        details.append({"code": "majority_differs", "majority": classes[majority]})
    reasons = [review_reason_text(d) for d in details]

    return {
        "finding": classes[top],
        "confidence": float(mean[top]),
        "probabilities": {c: float(p) for c, p in zip(classes, mean, strict=True)},
        "majority_vote": classes[majority],
        "votes": {c: int(n) for c, n in zip(classes, counts, strict=True)},
        "agreement": agreement,
        "members": n_members,
        "agreement_text": f"{agreement} of {n_members} models",
        "uncertainty": {"normalised_entropy": entropy, "member_spread": spread},
        "above_threshold": [c for c, p in zip(classes, mean, strict=True) if p >= thresholds[c]],
        "needs_review": bool(reasons),
        "review_reasons": reasons,
        "review_details": details,
    }


def review_reason_text(detail: dict[str, Any]) -> str:
    """The English text of one review reason (the app translates from the code)."""
    code = detail["code"]
    if code == "low_confidence":
        return f"confidence {detail['confidence']:.0%} is below the review threshold of {detail['threshold']:.0%}"
    if code == "low_agreement":
        return f"only {detail['agreement']} of {detail['members']} models agree"
    if code == "majority_differs":
        return f"the majority vote ({detail['majority']}) differs from the mean-probability finding"
    if code == "gate_overridden":
        return f"analysed despite the quality gate ({detail['refusal'].replace('_', ' ')})"
    if code == "partial_chest":
        return "the film may not show the whole chest"
    if code == "unfamiliar_film":
        return "this film is unlike those the pack was trained on"
    return code


def pack_thresholds(member_thresholds: list[dict[str, float]], classes: tuple[str, ...]) -> dict[str, float]:
    """The ensemble's operating threshold per class: the mean of the members' thresholds."""
    return {c: float(np.mean([t[c] for t in member_thresholds])) for c in classes}
