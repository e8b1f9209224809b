"""The audit trail's sentences in the reader's language.

Events are stored once, in English (an audit trail must not change with who reads it); the audit
log page shows the common ones in the reader's language by recognising their stored form and
filling a translated sentence with the same names and numbers. A sentence it does not recognise
(a rare event, or one written by an older release) is shown as stored. Free text inside an event
(a reason someone typed) stays as it was written."""

from __future__ import annotations

import re

from django.utils.translation import gettext, gettext_noop

# (stored form, sentence to translate); the more specific forms first.
SENTENCES: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), sentence) for pattern, sentence in [
    (r"Study (?P<study>\d+) of patient (?P<patient>.+) viewed", gettext_noop("Study %(study)s of patient %(patient)s opened")),
    (r"Patient (?P<patient>.+) viewed", gettext_noop("Patient %(patient)s opened")),
    (r"Radiograph (?P<file>.+) uploaded for patient (?P<patient>.+)", gettext_noop("Radiograph %(file)s uploaded for patient %(patient)s")),
    (r"Patient (?P<patient>.+) registered", gettext_noop("Patient %(patient)s registered")),
    (r"Patient (?P<patient>.+) edited", gettext_noop("Patient %(patient)s edited")),
    (r"Report of study (?P<study>\d+) printed as PDF", gettext_noop("Report of study %(study)s printed as PDF")),
    (r"Study (?P<study>\d+) exported as JSON", gettext_noop("Study %(study)s exported as JSON")),
    (r"Study (?P<study>\d+) AI result exported as DICOM (?P<kind>SC|SR)", gettext_noop("Study %(study)s: AI result exported as DICOM %(kind)s")),
    (r"Worklist exported as CSV \((?P<count>\d+) studies\)", gettext_noop("Worklist exported as CSV (%(count)s studies)")),
    (r"Study (?P<study>\d+): reviewer confirmed (?P<finding>.+)", gettext_noop("Study %(study)s: the radiologist agreed with the AI: %(finding)s")),
    (r"Study (?P<study>\d+): reviewer overrode (?P<ai>.+?) with (?P<finding>.+)", gettext_noop("Study %(study)s: the radiologist read %(finding)s where the AI said %(ai)s")),
    (r"Study (?P<study>\d+): addendum signed, now (?P<now>.+) \(was (?P<was>.+)\)", gettext_noop("Study %(study)s: addendum signed, now %(now)s (was %(was)s)")),
    (r"Study (?P<study>\d+) moved from patient (?P<old>.+?) to (?P<new>.+?) by a merge", gettext_noop("Study %(study)s moved from patient %(old)s to %(new)s by a merge")),
    (r"Study (?P<study>\d+) moved from patient (?P<old>.+?) to (?P<new>.+?): (?P<reason>.+)", gettext_noop("Study %(study)s moved from patient %(old)s to %(new)s: %(reason)s")),
    (r"Patient (?P<old>.+?) merged into (?P<kept>.+?) \((?P<count>\d+) studies moved\): (?P<reason>.+)", gettext_noop("Patient %(old)s merged into %(kept)s (%(count)s studies moved): %(reason)s")),
    (r"Study (?P<study>\d+) of patient (?P<patient>.+?) voided: (?P<reason>.+)", gettext_noop("Study %(study)s of patient %(patient)s voided: %(reason)s")),
    (r"Study (?P<study>\d+) of patient (?P<patient>.+?) restored: (?P<reason>.+)", gettext_noop("Study %(study)s of patient %(patient)s restored: %(reason)s")),
    (r"Study (?P<study>\d+) of patient (?P<patient>.+?) restored", gettext_noop("Study %(study)s of patient %(patient)s restored")),
    (r"Analysis of study (?P<study>\d+) queued again", gettext_noop("Analysis of study %(study)s queued again")),
    (r"Study (?P<study>\d+): retake marked done", gettext_noop("Study %(study)s: retake marked done")),
    (r"Clinic settings changed", gettext_noop("Clinic settings changed")),
    (r"Backup settings changed", gettext_noop("Backup settings changed")),
]]
GATE = re.compile(r"Study (?P<study>\d+): quality gate overruled \((?P<code>\w+)\), analysed anyway")


def in_words(summary: str) -> str:
    """The stored English summary as the reader's language says it, where it is a known form."""
    if match := GATE.fullmatch(summary):
        from app.inference.quality_gate import REFUSAL_WORDS  # below the audit trail: the engine's own vocabulary

        code = match["code"]
        refusal = gettext(REFUSAL_WORDS[code]) if code in REFUSAL_WORDS else code.replace("_", " ")
        return gettext("Study %(study)s: analysed despite the quality gate (%(refusal)s)") % {"study": match["study"], "refusal": refusal}
    for pattern, sentence in SENTENCES:
        if match := pattern.fullmatch(summary):
            return gettext(sentence) % match.groupdict()
    return summary
