"""A site profile: this clinic's calibration of one model pack, fitted on its radiologists'
signed reads (app/analysis/site_calibration fits it; this module only applies it, with no Django).

What it changes, and only for results made while it is active:

- the target class (for example COVID-19) gets a site probability from a logistic model on the
  pack's log-probabilities, q = sigmoid(w . log p + b), moved by the fitted threshold t so that
  t maps to one half: q' = sigmoid(logit q - logit t); the other classes share 1 - q' in the
  pack's own proportions;
- the finding is the most probable class of that distribution, as without a profile; t is chosen
  so that the target class's sensitivity against this clinic's radiologists meets the operating
  point an administrator picked (the page shows what the finding says: no hidden rule);
- the "unfamiliar film" check may use a threshold that takes in this clinic's ordinary films.

A profile is checked loudly when loaded: it must name the pack's classes in the pack's order,
carry finite numbers, and a threshold between 0 and 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "cxr-site-profile/1"
PROBABILITY_FLOOR = 1e-6  # log(0) guard; the pack's calibrated probabilities are never exactly 0


class SiteProfileError(ValueError):
    """A profile file that cannot be used, with the reason."""


@dataclass(frozen=True)
class SiteProfile:
    pack_name: str
    pack_version: str
    classes: tuple[str, ...]
    target: str
    weights: tuple[float, ...]  # one per class, on log p
    intercept: float
    threshold: float  # the site probability q of the target class that the profile moves to one half
    name: str = "site profile"
    version: int = 1
    target_sensitivity: float | None = None
    familiarity_threshold: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.target not in self.classes:
            raise SiteProfileError(f"The profile's target class {self.target!r} is not one of its classes {list(self.classes)}.")
        if len(self.weights) != len(self.classes):
            raise SiteProfileError(f"The profile has {len(self.weights)} weights for {len(self.classes)} classes.")
        numbers = [*self.weights, self.intercept, self.threshold] + ([self.familiarity_threshold] if self.familiarity_threshold is not None else [])
        if not all(math.isfinite(float(x)) for x in numbers):
            raise SiteProfileError("The profile holds a number that is not finite.")
        if not 0.0 < self.threshold < 1.0:
            raise SiteProfileError(f"The profile's threshold {self.threshold} is not between 0 and 1.")

    @property
    def target_index(self) -> int:
        return self.classes.index(self.target)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def site_probability(self, probabilities: np.ndarray) -> np.ndarray:
        """q for each row of pack probabilities (rows, classes)."""
        logs = np.log(np.clip(probabilities, PROBABILITY_FLOOR, 1.0))
        return 1.0 / (1.0 + np.exp(-(logs @ np.asarray(self.weights) + self.intercept)))

    def adjust(self, probabilities: np.ndarray) -> np.ndarray:
        """Rows of pack probabilities as this site's: the target's q', the others sharing 1 - q'."""
        probabilities = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
        q = np.clip(self.site_probability(probabilities), 1e-12, 1 - 1e-12)
        shift = math.log(self.threshold / (1 - self.threshold))
        q = 1.0 / (1.0 + np.exp(-(np.log(q / (1 - q)) - shift)))
        t = self.target_index
        others = probabilities.copy()
        others[:, t] = 0.0
        totals = others.sum(axis=1, keepdims=True)
        share = np.where(totals > 0, others / np.where(totals > 0, totals, 1.0), 1.0 / max(len(self.classes) - 1, 1))
        share[:, t] = 0.0
        adjusted = share * (1.0 - q)[:, None]
        adjusted[:, t] = q
        return adjusted

    def check_pack(self, pack_name: str, pack_version: str, classes: tuple[str, ...]) -> None:
        if (self.pack_name, self.pack_version) != (pack_name, pack_version) or tuple(classes) != self.classes:
            raise SiteProfileError(
                f"This profile was fitted for {self.pack_name} {self.pack_version} {list(self.classes)}, "
                f"not for {pack_name} {pack_version} {list(classes)}."
            )

    def summary(self) -> dict[str, Any]:
        """What a result records of the profile it used."""
        return {"name": self.name, "version": self.version, "target": self.target, "threshold": round(self.threshold, 4),
                "target_sensitivity": self.target_sensitivity}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["weights"] = list(self.weights)
        return {"format": FORMAT, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteProfile:
        if data.get("format") != FORMAT:
            raise SiteProfileError(f"Not a site profile (format {data.get('format')!r}, expected {FORMAT!r}).")
        try:
            return cls(
                pack_name=str(data["pack_name"]), pack_version=str(data["pack_version"]), classes=tuple(str(c) for c in data["classes"]),
                target=str(data["target"]), weights=tuple(float(w) for w in data["weights"]), intercept=float(data["intercept"]),
                threshold=float(data["threshold"]), name=str(data.get("name", "site profile"))[:100], version=int(data.get("version", 1)),
                target_sensitivity=None if data.get("target_sensitivity") is None else float(data["target_sensitivity"]),
                familiarity_threshold=None if data.get("familiarity_threshold") is None else float(data["familiarity_threshold"]),
                evidence=dict(data.get("evidence") or {}),
            )
        except SiteProfileError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SiteProfileError(f"The site profile is incomplete or malformed ({exc}).") from exc

    @classmethod
    def read(cls, path: Path) -> SiteProfile:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise SiteProfileError(f"The site profile {path} cannot be read ({exc}).") from exc

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
