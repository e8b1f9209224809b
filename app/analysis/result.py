"""What one analysis produced, as stored with it (clinical Analysis.result) and read back.

Written by app/analysis/jobs.py (run_engine) from the engine's result; the rest of the app reads it
through AnalysisResult.from_stored() (Analysis.outcome), never by poking at the dict, so a change
of layout is made here once. It also reads what older releases stored:

- schema 1 (no "schema_version"): images named by absolute path, which after a restore into
  another data folder point into the old one; such a name is re-rooted at its images/derived part.
- schema 2: "schema_version": 2, images named relative to the data directory.

The stored dict itself stays as written (`data`): the study page's templates show parts of it and
the JSON export hands it out whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

SCHEMA_VERSION = 2
ANALYSED, REFUSED = "analysed", "refused"


@dataclass(frozen=True)
class PackUsed:
    name: str
    version: str
    validated: bool
    intended_use: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class MemberOutput:
    name: str
    prediction: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Consensus:
    finding: str
    confidence: float
    probabilities: dict[str, float]
    needs_review: bool
    positive: bool
    agreement: int | None = None  # members that voted for the finding
    members: int | None = None
    review_reasons: tuple[str, ...] = ()  # in English, as stored (the pages translate review_details)


@dataclass(frozen=True)
class AnalysisResult:
    schema_version: int
    status: str  # ANALYSED or REFUSED
    pack: PackUsed
    data: dict[str, Any] = field(repr=False)
    # Analysed only:
    classes: tuple[str, ...] = ()
    consensus: Consensus | None = None
    members: tuple[MemberOutput, ...] = ()
    device: str = ""
    total_seconds: float | None = None
    images: dict[str, str] = field(default_factory=dict)  # kind -> name relative to the data directory
    # Refused only:
    refusal_code: str = ""
    refusal_reason: str = ""
    advice: str = ""

    @property
    def analysed(self) -> bool:
        return self.status == ANALYSED

    @property
    def site_profile(self) -> dict[str, Any] | None:
        """The site profile this result used ({"name", "version", "target", "threshold", ...}), if any."""
        return self.data.get("site_profile") or None

    @property
    def pack_probabilities(self) -> dict[str, float]:
        """The pack's own consensus probabilities, before any site profile: what a new site
        profile is fitted on (results made under a profile keep them beside the site's)."""
        profile = self.site_profile
        if profile and profile.get("pack_probabilities"):
            return {k: float(v) for k, v in profile["pack_probabilities"].items()}
        return dict(self.consensus.probabilities) if self.consensus else {}

    @property
    def familiarity_distance(self) -> float | None:
        familiarity = self.data.get("familiarity") or {}
        return float(familiarity["distance"]) if familiarity.get("distance") is not None else None

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> AnalysisResult:
        version = int(stored.get("schema_version", 1))
        pack = stored.get("pack") or {}
        common = {
            "schema_version": version,
            "status": stored.get("status", ANALYSED if "consensus" in stored else REFUSED),
            "pack": PackUsed(str(pack.get("name", "")), str(pack.get("version", "")), bool(pack.get("validated", False)), str(pack.get("intended_use", ""))),
            "data": stored,
        }
        if common["status"] != ANALYSED:
            return cls(**common, refusal_code=str(stored.get("code", "")), refusal_reason=str(stored.get("reason", "")), advice=str(stored.get("advice", "")))
        consensus = stored["consensus"]
        return cls(
            **common,
            classes=tuple(stored["classes"]),
            consensus=Consensus(
                finding=consensus["finding"],
                confidence=float(consensus["confidence"]),
                probabilities={k: float(v) for k, v in consensus["probabilities"].items()},
                needs_review=bool(consensus.get("needs_review", False)),
                positive=bool(consensus.get("positive", False)),
                agreement=consensus.get("agreement"),
                members=consensus.get("members"),
                review_reasons=tuple(consensus.get("review_reasons", ())),
            ),
            members=tuple(MemberOutput(m["name"], m.get("prediction", ""), dict(m["probabilities"])) for m in stored.get("members", [])),
            device=str(stored.get("device", "")),
            total_seconds=(stored.get("timings") or {}).get("total"),
            images={kind: _relative_image_name(name) for kind, name in (stored.get("images") or {}).items()},
        )


def _relative_image_name(name: str) -> str:
    """Schema 1 named images by absolute path; keep the part from images/derived on."""
    path = PurePath(name)
    if not path.is_absolute():
        return path.as_posix()
    parts = path.parts
    starts = [i for i in range(len(parts) - 1) if parts[i : i + 2] == ("images", "derived")]
    return Path(*parts[starts[-1] :]).as_posix() if starts else path.as_posix()
