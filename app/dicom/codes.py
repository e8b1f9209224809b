"""The coded concepts of the AI result SR: standard codes where DICOM (DCM), SNOMED CT (SCT) and
UCUM have them, the workstation's private scheme 99CXRWS for the rest. Every report that uses a
private code declares the scheme (Coding Scheme Identification Sequence), so a receiving system
knows whose codes they are. README ("DICOM") lists them."""

from __future__ import annotations

import re

import pydicom
from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

PRIVATE_SCHEME = "99CXRWS"
PRIVATE_SCHEME_NAME = "CXR Workstation AI result concepts"
# A UID under pydicom's root for generated UIDs, as every UID the app makes; fixed by its entropy.
PRIVATE_SCHEME_UID = generate_uid(entropy_srcs=["cxr-workstation coding scheme 99CXRWS"])

# Standard concepts.
PLAIN_CHEST_XRAY = CodedConcept("399208008", "SCT", "Plain chest X-ray")
COMMENT = CodedConcept("121106", "DCM", "Comment")
PRESENT = CodedConcept(codes.SCT.Present.value, "SCT", codes.SCT.Present.meaning)
ABSENT = CodedConcept(codes.SCT.Absent.value, "SCT", codes.SCT.Absent.meaning)
YES = CodedConcept(codes.SCT.Yes.value, "SCT", codes.SCT.Yes.meaning)
NO = CodedConcept(codes.SCT.No.value, "SCT", codes.SCT.No.meaning)
PERCENT = CodedConcept("%", "UCUM", "percent")
MODELS = CodedConcept("{models}", "UCUM", "models")
DEVICE_OBSERVER = CodedConcept(codes.cid270.Device.value, "DCM", codes.cid270.Device.meaning)
PERSON_OBSERVER = CodedConcept(codes.cid270.Person.value, "DCM", codes.cid270.Person.meaning)

# The workstation's own concepts (no standard code says these things).
CONSENSUS_PROBABILITY = CodedConcept("CXR-AI-2", PRIVATE_SCHEME, "Consensus probability")
MODELS_AGREEING = CodedConcept("CXR-AI-3", PRIVATE_SCHEME, "Models agreeing")
VALIDATION = CodedConcept("CXR-AI-4", PRIVATE_SCHEME, "Clinically validated model pack")
NEEDS_REVIEW = CodedConcept("CXR-AI-5", PRIVATE_SCHEME, "Needs review")
GATE_OVERRIDDEN = CodedConcept("CXR-AI-7", PRIVATE_SCHEME, "Quality gate overruled")
SIGNED_READ = CodedConcept("CXR-AI-9", PRIVATE_SCHEME, "Radiologist's signed read")
OTHER_ABNORMALITY = CodedConcept("CXR-READ-1", PRIVATE_SCHEME, "Other abnormality")
NOT_ASSESSABLE = CodedConcept("CXR-READ-2", PRIVATE_SCHEME, "Not assessable")


def class_concept(label: str, pack_codes: dict[str, dict[str, str]]) -> CodedConcept:
    """A finding class as a code: the pack's own (its manifest's class_codes), else a private one
    derived from the class name (stable across packs that use the same name)."""
    if label == "Other abnormality":
        return OTHER_ABNORMALITY
    if label == "Not assessable":
        return NOT_ASSESSABLE
    entry = pack_codes.get(label)
    if entry:
        return CodedConcept(entry["code"], entry["scheme"], entry["meaning"])
    slug = re.sub(r"[^A-Z0-9]+", "-", label.upper()).strip("-")[:10] or "CLASS"
    return CodedConcept(f"CXR-C-{slug}", PRIVATE_SCHEME, label[:64])


def declare_private_scheme(dataset: pydicom.Dataset) -> None:
    """Coding Scheme Identification Sequence (0008,0110): says whose codes 99CXRWS are."""
    item = pydicom.Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeUID = PRIVATE_SCHEME_UID
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "CXR Workstation"
    dataset.CodingSchemeIdentificationSequence = [item]
