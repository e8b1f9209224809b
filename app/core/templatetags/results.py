"""An AI result's sentences in the reader's language, written from the result's codes and numbers
(the engine stores English text too, for logs and JSON readers; older results have only that)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext, ngettext

register = template.Library()


def _percent(value: float) -> str:
    return f"{value:.0%}"


def reason_text(detail: dict[str, Any]) -> str:
    code = detail.get("code")
    if code == "low_confidence":
        return gettext("confidence %(confidence)s is below the review threshold of %(threshold)s") % {
            "confidence": _percent(detail["confidence"]), "threshold": _percent(detail["threshold"])}
    if code == "low_agreement":
        return gettext("only %(agreement)s of %(members)s models agree") % {"agreement": detail["agreement"], "members": detail["members"]}
    if code == "majority_differs":
        return gettext("the majority vote (%(majority)s) differs from the mean-probability finding") % {"majority": detail["majority"]}
    if code == "gate_overridden":
        return gettext("analysed despite the quality gate (%(refusal)s)") % {"refusal": refusal_words(str(detail["refusal"]))}
    if code == "partial_chest":
        return gettext("the film may not show the whole chest")
    if code == "unfamiliar_film":
        return gettext("this film is unlike those the pack was trained on")
    return str(code)


def refusal_words(code: str) -> str:
    """A quality-gate refusal code as the reader says it ("not_chest_radiograph" is not a word)."""
    from app.inference.quality_gate import REFUSAL_WORDS

    return gettext(REFUSAL_WORDS[code]) if code in REFUSAL_WORDS else code.replace("_", " ")


@register.filter
def review_reasons(consensus: dict[str, Any]) -> list[str]:
    details = consensus.get("review_details")
    if details is None:
        return list(consensus.get("review_reasons", []))
    return [reason_text(d) for d in details]


@register.filter
def agreement(consensus: dict[str, Any]) -> str:
    """"4 of 6 models" in the reader's language (a result without the counts keeps its text)."""
    if "members" not in consensus or "agreement" not in consensus:
        return str(consensus.get("agreement_text", ""))
    members = int(consensus["members"])
    return ngettext("%(agreement)s of %(members)s model", "%(agreement)s of %(members)s models", members) % {
        "agreement": consensus.get("agreement", ""), "members": members}


@register.filter
def age_sex(study: Any) -> str:
    """"54 y F" for a worklist row: the patient's age on the day of the study, and sex."""
    patient = study.patient
    age = patient.age_on(study.study_date or study.uploaded_at.date())
    parts = [f"{age} y" if age is not None else "", patient.sex if patient.sex != "U" else ""]
    return " ".join(p for p in parts if p) or "—"


def _note_words() -> dict[str, str]:
    return {
        "colour DICOM converted to grayscale": gettext("colour DICOM converted to grayscale"),
        "VOI LUT / window applied from the DICOM header": gettext("the DICOM file's own window applied"),
        "MONOCHROME1 inverted so bone is white": gettext("MONOCHROME1 inverted so bone is white"),
        "transparency flattened onto black": gettext("transparency flattened onto black"),
        "The image was rotated 90° clockwise; it was turned upright before analysis.": gettext("The image was rotated 90° clockwise; it was turned upright before analysis."),
        "The image was upside down; it was turned upright before analysis.": gettext("The image was upside down; it was turned upright before analysis."),
        "The image was rotated 90° anticlockwise; it was turned upright before analysis.": gettext("The image was rotated 90° anticlockwise; it was turned upright before analysis."),
        "The image was inverted (a negative); it was inverted back before analysis.": gettext("The image was inverted (a negative); it was inverted back before analysis."),
    }


@register.filter
def note_words(notes: list[str]) -> list[str]:
    """What the readers did to the pixels (stored in English) in the reader's language."""
    import re

    words = _note_words()
    out = []
    for note in notes or []:
        if note in words:
            out.append(words[note])
        elif match := re.fullmatch(r"EXIF orientation (\d+) applied", note):
            out.append(gettext("EXIF orientation %(value)s applied") % {"value": match.group(1)})
        elif match := re.fullmatch(r"(\d+)-bit values scaled to the image's own range", note):
            out.append(gettext("%(bits)s-bit values scaled to the image's own range") % {"bits": match.group(1)})
        elif match := re.fullmatch(r"Analysed despite the quality gate, which had refused the image \((.+)\)", note):
            out.append(gettext("Analysed despite the quality gate, which had refused the image (%(refusal)s)") % {"refusal": refusal_words(match.group(1).replace(" ", "_"))})
        else:
            out.append(note)
    return out


@register.filter
def import_message(message: str) -> str:
    """A folder import's reason for a file (stored in English) in the reader's language, where it
    is one of the import's own sentences; a reader's detailed refusal stays as written."""
    import re

    if match := re.fullmatch(r"same file as study (\d+)", message):
        return gettext("same file as study %(number)s") % {"number": match.group(1)}
    fixed = {
        "not a PNG, JPEG or DICOM image": gettext("not a PNG, JPEG or DICOM image"),
        "a link to another file; links are not followed": gettext("a link to another file; links are not followed"),
        "not a regular file": gettext("not a regular file"),
    }
    if message in fixed:
        return fixed[message]
    if match := re.fullmatch(r"this file stopped the import (\d+) times \(the app was killed or crashed while reading it\); it was skipped", message):
        return gettext("this file stopped the import %(count)s times (the app was killed or crashed while reading it); it was skipped") % {"count": match.group(1)}
    return message
