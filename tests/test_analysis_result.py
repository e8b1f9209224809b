"""The stored result of an analysis reads back typed, whichever release stored it."""

from __future__ import annotations

import pytest

from app.analysis.result import SCHEMA_VERSION, AnalysisResult

CONSENSUS = {"finding": "COVID-19", "confidence": 0.91, "probabilities": {"COVID-19": 0.91, "Normal": 0.09}, "agreement": 5, "members": 6, "needs_review": False, "positive": True, "review_reasons": []}
PACK = {"name": "cxr-covid3-lite", "version": "2.0.0", "validated": False, "intended_use": "Demonstration"}


def test_it_reads_a_result_of_this_release() -> None:
    stored = {"schema_version": SCHEMA_VERSION, "status": "analysed", "pack": PACK, "classes": ["COVID-19", "Normal"], "consensus": CONSENSUS,
              "members": [{"name": "lite0-a", "prediction": "COVID-19", "probabilities": {"COVID-19": 0.9, "Normal": 0.1}}],
              "device": "CPU", "timings": {"total": 0.06}, "images": {"heatmap": "images/derived/study-1/analysis-1/analysis-heatmap.png"}}
    result = AnalysisResult.from_stored(stored)
    assert result.analysed and result.schema_version == 2
    assert (result.consensus.finding, result.consensus.agreement, result.consensus.members, result.consensus.positive) == ("COVID-19", 5, 6, True)
    assert result.pack.label == "cxr-covid3-lite 2.0.0" and not result.pack.validated
    assert result.members[0].probabilities["Normal"] == pytest.approx(0.1)
    assert result.total_seconds == pytest.approx(0.06)
    assert result.images["heatmap"] == "images/derived/study-1/analysis-1/analysis-heatmap.png"
    assert result.data is stored


def test_it_reads_an_older_result_with_absolute_image_names() -> None:
    stored = {"status": "analysed", "pack": PACK, "classes": ["COVID-19", "Normal"], "consensus": CONSENSUS, "members": [], "device": "CPU", "timings": {"total": 0.2},
              "images": {"overlay": "/home/clinic/old-data/images/derived/study-7/analysis-9/analysis-overlay.png", "odd": "/elsewhere/x.png"}}
    result = AnalysisResult.from_stored(stored)
    assert result.schema_version == 1
    assert result.images["overlay"] == "images/derived/study-7/analysis-9/analysis-overlay.png"
    assert result.images["odd"] == "/elsewhere/x.png"  # not re-rooted: image_path() then refuses it (outside the data directory)


def test_it_reads_a_refusal() -> None:
    result = AnalysisResult.from_stored({"schema_version": 2, "status": "refused", "code": "not_chest_radiograph", "reason": "Not a chest film.", "advice": "Upload a frontal film.", "pack": PACK})
    assert not result.analysed and result.consensus is None
    assert (result.refusal_code, result.refusal_reason, result.advice) == ("not_chest_radiograph", "Not a chest film.", "Upload a frontal film.")
