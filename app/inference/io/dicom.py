"""DICOM radiographs: pixel data to display-convention [0, 1] pixels, plus patient/study tags.

Order of operations follows the DICOM pixel pipeline: stored values (BitsStored, signedness) ->
modality LUT (Rescale Slope/Intercept) -> VOI LUT or Window Centre/Width -> presentation
(MONOCHROME1 inverted so that bone is white).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from app.inference.errors import InputError
from app.inference.io.image import LoadedImage, chroma_measures, stretch_to_unit
from app.inference.limits import MAX_PIXELS, MAX_SIDE

# Modalities that are never a plain chest radiograph: refused with a precise reason before any
# pixel is decoded.
# The Manufacturer this app writes into its AI-result DICOM objects (app/dicom/results.py).
OWN_MANUFACTURER = "CXR Workstation"
NON_RADIOGRAPH_MODALITIES = {
    "CT": "a CT image",
    "MR": "an MR image",
    "US": "an ultrasound image",
    "NM": "a nuclear medicine image",
    "PT": "a PET image",
    "XA": "an angiography image",
    "RF": "a fluoroscopy image",
    "MG": "a mammogram",
    "OP": "an ophthalmic photograph",
    "XC": "an external camera photograph",
    "ECG": "an ECG waveform",
    "SR": "a structured report",
    "RTDOSE": "a radiotherapy dose grid",
    "RTPLAN": "a radiotherapy plan",
    "RTSTRUCT": "a radiotherapy structure set",
    "PR": "a presentation state",
}

TAGS = {
    "patient_id": "PatientID",
    "patient_name": "PatientName",
    "patient_sex": "PatientSex",
    "patient_birth_date": "PatientBirthDate",
    "patient_age": "PatientAge",
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "study_description": "StudyDescription",
    "accession_number": "AccessionNumber",
    "modality": "Modality",
    "body_part": "BodyPartExamined",
    "view_position": "ViewPosition",
    "institution": "InstitutionName",
    "manufacturer": "Manufacturer",
}


def _tag_text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip().replace("^", " ").strip()


def read_tags(ds: pydicom.Dataset) -> dict[str, str]:
    return {key: _tag_text(ds.get(keyword)) for key, keyword in TAGS.items() if ds.get(keyword) not in (None, "")}


def refuse_derived_result(ds: pydicom.Dataset) -> None:
    """A picture of a result is not a radiograph: this app's own AI results sent back to it (by a
    PACS, or uploaded), and any secondary capture with burnt-in annotation (screenshots, exports of
    another reader's result). Analysing them would put an AI finding about an AI picture in the record."""
    image_type = {str(v).strip().upper() for v in (ds.get("ImageType") or [])}
    if str(ds.get("Manufacturer", "")).strip() == OWN_MANUFACTURER and ("DERIVED" in image_type or str(ds.get("Modality", "")).upper() in ("SR", "OT")):
        raise InputError("This file is an AI result made by a CXR Workstation (a picture or report of its finding), not a radiograph. Upload the original film.")
    if {"DERIVED", "SECONDARY"} <= image_type and str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        raise InputError("This DICOM is a derived picture with burnt-in annotation (a screenshot or a result), not an original radiograph. Upload the original film.")


def load_dicom(path: Path) -> LoadedImage:
    """Read a DICOM file. Every failure is an InputError with a readable reason: the file is
    untrusted input, and pydicom meets damaged or hostile bytes with many error types (struct.error,
    IndexError, ...), none of which may reach the caller as anything but "this file is unreadable"."""
    try:
        return _load_dicom(path)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise InputError(f"The DICOM file is damaged or truncated and cannot be read ({exc.__class__.__name__}).") from exc


def _load_dicom(path: Path) -> LoadedImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)

    tags = read_tags(ds)
    modality = tags.get("modality", "").upper()
    if modality in NON_RADIOGRAPH_MODALITIES:
        raise InputError(
            f"This DICOM file is {NON_RADIOGRAPH_MODALITIES[modality]} (modality {modality}), not a chest radiograph."
        )
    refuse_derived_result(ds)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise InputError("This DICOM file contains no image (it may be a report, a worklist entry or a DICOMDIR).")

    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise InputError(
            f"This DICOM file holds {frames} frames (a cine loop, volume or series); a chest radiograph is a single image."
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise InputError("The DICOM file declares no image size (Rows/Columns missing).")
    if rows > MAX_SIDE or cols > MAX_SIDE or rows * cols > MAX_PIXELS:
        raise InputError(f"The image is {cols}x{rows} pixels, larger than any radiograph this app accepts.")

    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        name = getattr(syntax, "name", str(syntax or "an unknown transfer syntax"))
        raise InputError(
            f"The image is compressed with {name}, and no decoder for it is installed on this workstation. "
            "Export it uncompressed or as JPEG baseline from the modality or PACS."
        ) from exc
    except Exception as exc:  # truncated pixel data, inconsistent header...
        raise InputError(f"The DICOM image data is damaged or incomplete ({exc}).") from exc

    notes: list[str] = []
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    colourfulness = coloured_fraction = 0.0
    if samples == 3 or stored.ndim == 3:
        rgb = stored.astype(np.float32)
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            rgb = convert_color_space(stored, photometric, "RGB").astype(np.float32)
        rgb /= max(float(rgb.max()), 1.0)
        colourfulness, coloured_fraction = chroma_measures(rgb)
        values = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        notes.append("colour DICOM converted to grayscale")
    elif photometric == "PALETTE COLOR":
        raise InputError("This DICOM uses a colour palette; it is not a radiograph.")
    else:
        values = apply_modality_lut(stored, ds)
        has_voi = "VOILUTSequence" in ds or "WindowCenter" in ds
        if has_voi:
            values = apply_voi_lut(values, ds, index=0)
            notes.append("VOI LUT / window applied from the DICOM header")

    pixels = stretch_to_unit(np.asarray(values, dtype=np.float32))
    if photometric == "MONOCHROME1":
        pixels = 1.0 - pixels
        notes.append("MONOCHROME1 inverted so bone is white")
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    return LoadedImage(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        source_format="dicom",
        bits=bits,
        colourfulness=colourfulness,
        coloured_fraction=coloured_fraction,
        metadata=tags,
        notes=notes,
    )
