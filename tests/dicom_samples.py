"""Real films wrapped as the DICOM objects an X-ray unit sends (for receiver and CD tests)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid


def cr_dataset(film: Path, patient_id: str) -> Dataset:
    """A cxr/ film as the Computed Radiography object an X-ray unit would send."""
    pixels = np.asarray(Image.open(film).convert("L"), dtype=np.uint8)
    ds = cr_dataset_header(patient_id, *pixels.shape)
    ds.PatientName = "Test^Patient"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    return ds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def twelve_bit_chest(film: Path | None = None, patient_id: str = "DEEP-1") -> Dataset:
    """A 12-bit CR with a Modality LUT and its own window ("LUNG": the 1st to 99th percentile of
    its values), made from a real film (scaled from 8 to 12 bits, the in-between values filled with
    fine noise) or, without one, the chest phantom. Its first row counts up one stored value per pixel, so a
    test can tell apart values that one 8-bit display level would merge."""
    if film is not None:
        base = np.asarray(Image.open(film).convert("L"), dtype=np.float64) * 16
    else:
        from app.inference.sample import chest_phantom

        base = chest_phantom(512) * 4080
    rows, cols = base.shape
    fine = np.random.default_rng(0).integers(0, 16, size=base.shape)
    stored = np.clip(base + fine, 0, 4095).astype(np.uint16)
    stored[0, :64] = 2000 + np.arange(64)
    low, high = np.percentile(stored, [1, 99])
    ds = cr_dataset_header(patient_id, rows, cols)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "0", "US"
    ds.WindowCenter, ds.WindowWidth, ds.WindowCenterWidthExplanation = str(round((low + high) / 2)), str(round(high - low)), "LUNG"
    ds.PixelData = stored.tobytes()
    return ds


def cr_dataset_header(patient_id: str, rows: int, cols: int) -> Dataset:
    """What an X-ray unit's CR object says besides its pixels (and a DICOMDIR's records need, PS3.3 F.5)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = ComputedRadiographyImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality, ds.ViewPosition = patient_id, "Deep^Film", "CR", "PA"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20261123", "101500", "1", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    return ds
