"""Standard codes for the class names packs commonly use, written into a new pack's manifest
("class_codes") so that coded reports (the DICOM SR) say what a finding means without English.

Only codes checked against a terminology are listed; a class not here is coded in the
workstation's private scheme by the report (app/dicom/codes.py), which the report declares.
Lung Opacity has no single SNOMED CT concept for "an opacity on a chest radiograph" that this
table could vouch for, so it stays private until a clinic's pack supplies one.
"""

from __future__ import annotations

KNOWN_CLASS_CODES: dict[str, dict[str, str]] = {
    "COVID-19": {"code": "840539006", "scheme": "SCT", "meaning": "Disease caused by SARS-CoV-2"},
    "Viral Pneumonia": {"code": "75570004", "scheme": "SCT", "meaning": "Viral pneumonia"},
    "Normal": {"code": "408573005", "scheme": "SCT", "meaning": "Imaging result normal"},
}


def known_codes(classes: list[str]) -> dict[str, dict[str, str]]:
    return {c: dict(KNOWN_CLASS_CODES[c]) for c in classes if c in KNOWN_CLASS_CODES}
