"""The AI result as DICOM a PACS can store and show (highdicom): a Secondary Capture of the
radiograph with the heatmap and the finding burned in, and a Comprehensive SR with the finding,
probabilities, agreement and the pack, both in the original study.

A study uploaded as DICOM keeps its Study Instance UID and patient tags (read from the stored
file). A PNG or JPEG has no DICOM study: the objects then carry the workstation's patient record
and a Study Instance UID derived from the file's sha256, so repeated exports of one film land in
one study. UIDs of the new series and instances derive from the analysis, so exporting twice gives
the same objects (a PACS stores them once).
"""

from __future__ import annotations

import io
from datetime import date

import cv2
import highdicom as hd
import numpy as np
import pydicom
from django.utils import timezone
from highdicom.sr import CodedConcept, ContainerContentItem, NumContentItem, RelationshipTypeValues, TextContentItem
from PIL import Image
from pydicom.uid import generate_uid

from app import __version__
from app.clinical.models import Analysis, AnalysisStatus, Review, Study
from app.inference.engine import DEMONSTRATION_WARNING
from app.inference.io.dicom import OWN_MANUFACTURER

MANUFACTURER = OWN_MANUFACTURER  # the reader refuses these objects when they come back (io/dicom.py)
SC_SERIES_NUMBER = 9101
SR_SERIES_NUMBER = 9102
# Concepts without a standard code are coded in a local scheme (DICOM PS3.16 allows "99" prefixes).
LOCAL = "99CXRWS"
FINDING = CodedConcept("121071", "DCM", "Finding")
ALGORITHM_NAME = CodedConcept("111001", "DCM", "Algorithm Name")
ALGORITHM_VERSION = CodedConcept("111003", "DCM", "Algorithm Version")
PERCENT = CodedConcept("%", "UCUM", "percent")
AI_RESULT = CodedConcept("CXR-AI-1", LOCAL, "Chest radiograph AI result")
PROBABILITY = CodedConcept("CXR-AI-2", LOCAL, "Consensus probability")
AGREEMENT = CodedConcept("CXR-AI-3", LOCAL, "Models agreeing")
VALIDATION = CodedConcept("CXR-AI-4", LOCAL, "Clinical validation status")
REVIEW = CodedConcept("CXR-AI-5", LOCAL, "Needs review")
SIGNED_READ = CodedConcept("CXR-AI-6", LOCAL, "Radiologist's signed finding")


class NoResult(Exception):
    """The study has no analysed AI result to export."""


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _original_dataset(study: Study) -> pydicom.Dataset | None:
    if study.file_format != "dicom":
        return None
    return pydicom.dcmread(study.path, stop_before_pixels=True)


def _study_tags(study: Study) -> dict[str, object]:
    """Patient and study tags for a film that came without DICOM."""
    patient = study.patient
    return {
        "study_instance_uid": _uid("cxr-study", study.sha256),
        "patient_id": patient.patient_id,
        "patient_name": (patient.full_name or "").replace(" ", "^"),
        "patient_birth_date": patient.birth_date.strftime("%Y%m%d") if patient.birth_date else None,
        "patient_sex": patient.sex if patient.sex in ("F", "M", "O") else None,
        "accession_number": study.accession_number or None,
        "study_id": str(study.pk),
        "study_date": study.study_date or date.today(),
        "study_time": timezone.localtime(study.uploaded_at).time().replace(microsecond=0),
        "referring_physician_name": None,
    }


def _signed_read(study: Study) -> Review | None:
    """The radiologist's read that stands (the newest addendum, else the original)."""
    return study.reviews.select_related("reviewer").first()


def _read_text(read: Review | None) -> str:
    if read is None:
        return "Not reviewed by a radiologist"
    who = read.reviewer.get_full_name() or read.reviewer.get_username()
    label = "addendum" if read.is_addendum else "signed"
    return f"{read.finding_text} ({label} by {who}, {timezone.localtime(read.signed_at):%Y-%m-%d %H:%M})"


def _version(study: Study, analysis: Analysis) -> tuple[object, ...]:
    """What makes an exported object a new one for the PACS: the analysis, the patient the study
    belongs to now (a move), and the read that stands (a signature or an addendum)."""
    read = _signed_read(study)
    return (analysis.pk, study.sha256, study.patient.patient_id, read.pk if read else "")


def _use_workstation_patient(dataset: pydicom.Dataset, study: Study) -> None:
    """A study moved to another patient (or merged) keeps its imaging study, under the patient
    it belongs to now: the original file's patient tags would name the wrong person."""
    patient = study.patient
    if str(dataset.get("PatientID", "")) == patient.patient_id:
        return
    dataset.PatientID = patient.patient_id
    dataset.PatientName = (patient.full_name or "").replace(" ", "^")
    dataset.PatientBirthDate = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    dataset.PatientSex = patient.sex if patient.sex in ("F", "M", "O") else ""


def _burned_in(analysis: Analysis, read: Review | None = None) -> np.ndarray:
    """The overlay (radiograph + heatmap) with the finding and the warning written on it, RGB."""
    path = analysis.image_path("overlay") or analysis.image_path("display")
    if path is None:
        raise NoResult("the analysis images are missing")
    picture = np.asarray(Image.open(path).convert("RGB")).copy()
    consensus = analysis.outcome.consensus
    agreed = f"{consensus.agreement}/{consensus.members}" if consensus.agreement is not None and consensus.members is not None else "?/?"
    lines = [
        f"AI: {consensus.finding} {consensus.confidence:.0%} ({agreed} models)",
        f"{analysis.pack_name} {analysis.pack_version}",
        f"Radiologist: {_read_text(read)}",
    ]
    if analysis.demonstration:
        lines.insert(0, f"AI result - {DEMONSTRATION_WARNING.upper()}")
    scale = max(picture.shape[1] / 900, 0.4)
    height = int(28 * scale)
    band = np.zeros((height * len(lines) + 8, picture.shape[1], 3), np.uint8)
    for i, text in enumerate(lines):
        colour = (255, 170, 0) if analysis.demonstration and i == 0 else (255, 255, 255)
        cv2.putText(band, text, (8, height * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, colour, max(1, int(2 * scale)), cv2.LINE_AA)
    return np.ascontiguousarray(np.vstack([band, picture]))


def secondary_capture(study: Study, analysis: Analysis) -> pydicom.Dataset:
    pixels = _burned_in(analysis, _signed_read(study))
    version = _version(study, analysis)
    common = {
        "pixel_array": pixels,
        "photometric_interpretation": "RGB",
        "bits_allocated": 8,
        "coordinate_system": "PATIENT",
        "series_instance_uid": _uid("cxr-sc-series", *version),
        "series_number": SC_SERIES_NUMBER,
        "sop_instance_uid": _uid("cxr-sc", *version),
        "instance_number": 1,
        "manufacturer": MANUFACTURER,
        "patient_orientation": ("L", "F"),
    }
    original = _original_dataset(study)
    if original is not None:
        _use_workstation_patient(original, study)
        sc = hd.sc.SCImage.from_ref_dataset(ref_dataset=original, **common)
    else:
        sc = hd.sc.SCImage(**common, **_study_tags(study))
    sc.SeriesDescription = "AI result (demonstration, not for diagnosis)" if analysis.demonstration else "AI result"
    sc.BurnedInAnnotation = "YES"
    sc.BodyPartExamined = "CHEST"
    sc.SoftwareVersions = __version__
    return sc


def structured_report(study: Study, analysis: Analysis, evidence: pydicom.Dataset) -> pydicom.Dataset:
    consensus = analysis.outcome.consensus
    container = ContainerContentItem(name=AI_RESULT)
    items = [
        TextContentItem(name=FINDING, value=consensus.finding, relationship_type=RelationshipTypeValues.CONTAINS),
        TextContentItem(name=ALGORITHM_NAME, value=analysis.pack_name, relationship_type=RelationshipTypeValues.CONTAINS),
        TextContentItem(name=ALGORITHM_VERSION, value=analysis.pack_version, relationship_type=RelationshipTypeValues.CONTAINS),
        TextContentItem(
            name=VALIDATION,
            value=f"NOT clinically validated: {DEMONSTRATION_WARNING}" if analysis.demonstration else "clinically validated pack",
            relationship_type=RelationshipTypeValues.CONTAINS,
        ),
        TextContentItem(name=REVIEW, value="; ".join(consensus.review_reasons) or "no", relationship_type=RelationshipTypeValues.CONTAINS),
        # Kept apart from the AI's finding: what a radiologist signed, or that nobody has yet.
        TextContentItem(name=SIGNED_READ, value=_read_text(_signed_read(study)), relationship_type=RelationshipTypeValues.CONTAINS),
    ]
    if consensus.agreement is not None and consensus.members is not None:
        items.append(NumContentItem(name=AGREEMENT, value=int(consensus.agreement), unit=CodedConcept("{models}", "UCUM", "models"), relationship_type=RelationshipTypeValues.CONTAINS))
    for label, probability in consensus.probabilities.items():
        item = NumContentItem(name=PROBABILITY, value=round(float(probability) * 100, 1), unit=PERCENT, relationship_type=RelationshipTypeValues.CONTAINS)
        # Which class the probability is of, as a text modifier of the number.
        item.ContentSequence = [TextContentItem(name=FINDING, value=str(label), relationship_type=RelationshipTypeValues.HAS_CONCEPT_MOD)]
        items.append(item)
    container.ContentSequence = items
    sr = hd.sr.ComprehensiveSR(
        evidence=[evidence],
        content=container,
        series_instance_uid=_uid("cxr-sr-series", *_version(study, analysis)),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=_uid("cxr-sr", *_version(study, analysis)),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    sr.SeriesDescription = "AI result report (demonstration, not for diagnosis)" if analysis.demonstration else "AI result report"
    return sr


def export(study: Study, kind: str) -> bytes:
    """The study's "sc" or "sr" object as DICOM file bytes."""
    analysis = study.latest_analysis
    if analysis is None or analysis.status != AnalysisStatus.ANALYSED or not (analysis.outcome and analysis.outcome.analysed):
        raise NoResult("there is no AI finding to export")
    sc = secondary_capture(study, analysis)
    dataset = sc if kind == "sc" else structured_report(study, analysis, sc)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
