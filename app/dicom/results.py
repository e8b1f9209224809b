"""The AI result as DICOM a PACS can store and show (highdicom): a Secondary Capture of the
radiograph with the heatmap and the finding burned in, and a coded Measurement Report SR (TID 1500,
app/dicom/codes.py for its concepts), both in the original study.

A study uploaded as DICOM keeps its Study Instance UID and patient tags (read from the stored
file). A PNG or JPEG has no DICOM study: the objects then carry the workstation's patient record
and a Study Instance UID derived from the file's sha256, so repeated exports of one film land in
one study. UIDs of the new series and instances derive from the analysis, so exporting twice gives
the same objects (a PACS stores them once).
"""

from __future__ import annotations

import io
import re
from datetime import date

import cv2
import highdicom as hd
import numpy as np
import pydicom
from django.utils import timezone
from highdicom.sr import RelationshipTypeValues, TextContentItem
from PIL import Image
from pydicom.uid import generate_uid

from app import __version__
from app.clinical.models import Analysis, AnalysisStatus, Review, Study
from app.core.models import ClinicSettings
from app.dicom import codes
from app.inference.engine import DEMONSTRATION_WARNING
from app.inference.io.dicom import OWN_MANUFACTURER

MANUFACTURER = OWN_MANUFACTURER  # the reader refuses these objects when they come back (io/dicom.py)
SC_SERIES_NUMBER = 9101
SR_SERIES_NUMBER = 9102
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


def _version(study: Study, analysis: Analysis, read: Review | None) -> tuple[object, ...]:
    """What makes an exported object a new one for the PACS: the analysis, the patient the study
    belongs to now (a move), and the read that stands (a signature or an addendum)."""
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


def _valid_patient_age(dataset: pydicom.Dataset) -> None:
    """Patient's Age copied from the original must be an Age String ("062Y"): X-ray units write
    "62"; a number is mended, anything else left out rather than passed on invalid."""
    age = str(dataset.get("PatientAge", "") or "")
    if not age or re.fullmatch(r"\d{3}[DWMY]", age):
        return
    if age.isdigit() and int(age) < 1000:
        dataset.PatientAge = f"{int(age):03d}Y"
    else:
        del dataset.PatientAge


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
    if analysis.gate_overridden:
        lines.insert(1, f"Analysed despite the quality gate: {analysis.gate_override_reason}"[:110])
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
    read = _signed_read(study)
    pixels = _burned_in(analysis, read)
    version = _version(study, analysis, read)
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


def _pack(analysis: Analysis):  # noqa: ANN202  (ModelPack | None)
    """The installed pack that made the result (for its class codes and checksum), if still installed."""
    from django.conf import settings

    from app.inference.errors import ModelPackError
    from app.inference.packs.registry import find

    try:
        return find(settings.DATA_DIR.model_packs, analysis.pack_name, analysis.pack_version)
    except (ModelPackError, OSError):
        return None


def _ai_groups(
    analysis: Analysis, pack, version: tuple[object, ...], source: hd.sr.SourceImageForMeasurementGroup,  # noqa: ANN001  (ModelPack | None)
) -> list[hd.sr.MeasurementsAndQualitativeEvaluations]:
    """The AI's observations: one group with the consensus finding and its flags, then one group per
    class (present or absent in the AI's finding, with its consensus probability in %)."""
    outcome = analysis.outcome
    consensus = outcome.consensus
    pack_codes = pack.class_codes if pack else {}
    parameters = [f"pack checksum sha256:{pack.identity}"] if pack else []
    if outcome.site_profile:
        parameters.append(f"site profile v{outcome.site_profile.get('version')} (target {outcome.site_profile.get('target')})")
    algorithm = hd.sr.AlgorithmIdentification(name=analysis.pack_name, version=analysis.pack_version, parameters=parameters or None)
    flags = [
        hd.sr.QualitativeEvaluation(codes.NEEDS_REVIEW, codes.YES if consensus.needs_review else codes.NO),
        hd.sr.QualitativeEvaluation(codes.GATE_OVERRIDDEN, codes.YES if analysis.gate_overridden else codes.NO),
        hd.sr.QualitativeEvaluation(codes.VALIDATION, codes.NO if analysis.demonstration else codes.YES),
    ]
    measurements = [hd.sr.Measurement(name=codes.CONSENSUS_PROBABILITY, value=round(float(consensus.confidence) * 100, 1), unit=codes.PERCENT)]
    if consensus.agreement is not None:
        measurements.append(hd.sr.Measurement(name=codes.MODELS_AGREEING, value=int(consensus.agreement), unit=codes.MODELS))
    groups = [hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid("cxr-sr-ai", *version), identifier="AI consensus result"),
        finding_type=codes.class_concept(consensus.finding, pack_codes), algorithm_id=algorithm, qualitative_evaluations=flags,
        measurements=measurements, source_images=[source],
    )]
    for index, (label, probability) in enumerate(consensus.probabilities.items()):
        concept = codes.class_concept(label, pack_codes)
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid("cxr-sr-class", index, *version), identifier=f"AI: {label}"[:64]),
            finding_type=concept, algorithm_id=algorithm,
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(concept, codes.PRESENT if label == consensus.finding else codes.ABSENT)],
            measurements=[hd.sr.Measurement(name=codes.CONSENSUS_PROBABILITY, value=round(float(probability) * 100, 1), unit=codes.PERCENT)],
            source_images=[source],
        ))
    return groups


def _read_group(
    read: Review, pack, version: tuple[object, ...], source: hd.sr.SourceImageForMeasurementGroup,  # noqa: ANN001  (ModelPack | None)
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The radiologist's signed read: its own group, observed by a person (HAS OBS CONTEXT on the
    group), never mixed into the AI's."""
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid("cxr-sr-read", *version), identifier="Radiologist's signed read"),
        finding_type=codes.class_concept(read.finding, pack.class_codes if pack else {}),
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(codes.SIGNED_READ, codes.YES)],
        source_images=[source],
    )
    clinic = ClinicSettings.current()
    person = hd.sr.ObserverContext(
        observer_type=codes.PERSON_OBSERVER,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=(read.reviewer.get_full_name() or read.reviewer.get_username()).replace(" ", "^")[:64],
            login_name=read.reviewer.get_username()[:64], organization_name=(clinic.clinic_name if clinic else "")[:64] or None,
        ),
    )
    container = group[0]
    container.ContentSequence = [*person, *container.ContentSequence]
    words = "; ".join(x for x in (read.detail, read.note, "addendum" if read.is_addendum else "", f"signed {timezone.localtime(read.signed_at):%Y-%m-%d %H:%M}") if x)
    container.ContentSequence.append(TextContentItem(name=codes.COMMENT, value=words[:1024], relationship_type=RelationshipTypeValues.CONTAINS))
    return group


def structured_report(study: Study, analysis: Analysis, evidence: pydicom.Dataset) -> pydicom.Dataset:
    """DICOM TID 1500 Measurement Report, as the IHE AI Results profile describes: the algorithm
    as a device observer (name, version, the pack's checksum), the source image referenced, the
    AI's finding and every class coded, the probabilities as numbers in UCUM %, needs-review and
    the quality-gate override as coded flags; the radiologist's signed read, when there is one, as
    a separate observation by a person."""
    original = _original_dataset(study)
    source_dataset = original if original is not None else evidence
    source = hd.sr.SourceImageForMeasurementGroup.from_source_image(source_dataset)
    pack = _pack(analysis)
    device = hd.sr.ObserverContext(
        observer_type=codes.DEVICE_OBSERVER,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_uid("cxr-pack", analysis.pack_name, analysis.pack_version, pack.identity if pack else ""),
            name=f"{analysis.pack_name} {analysis.pack_version}"[:64], manufacturer_name=MANUFACTURER, model_name=analysis.pack_name[:64],
        ),
    )
    read = _signed_read(study)
    version = _version(study, analysis, read)
    groups = _ai_groups(analysis, pack, version, source)
    if read is not None:
        groups.append(_read_group(read, pack, version, source))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.PLAIN_CHEST_XRAY,
        imaging_measurements=groups,
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[source_dataset],
        content=report[0],
        series_instance_uid=_uid("cxr-sr-series", *version),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=_uid("cxr-sr", *version),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=read is not None,
        is_verified=False,
    )
    if original is not None:
        _use_workstation_patient(sr, study)
        _valid_patient_age(sr)
    sr.SeriesDescription = "AI result report (demonstration, not for diagnosis)" if analysis.demonstration else "AI result report"
    codes.declare_private_scheme(sr)
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
