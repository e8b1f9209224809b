"""The PDF report of one study (reportlab, entirely offline).

Every page carries the clinic name, the patient ID, PRELIMINARY while no radiologist has signed,
and the demonstration warning while the result comes from an unvalidated model pack.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.reports import pdf_text
from app.clinical.models import AnalysisStatus, Study
from app.core.models import ClinicSettings
from app.core.templatetags import results

MARGIN = 18 * mm
IMAGE_WIDTH = 82 * mm
TEXT_WIDTH = A4[0] - 2 * MARGIN
CELL = ParagraphStyle("cell", fontName=pdf_text.REGULAR, fontSize=9, leading=11)
CELL_LABEL = ParagraphStyle("cell_label", parent=CELL, fontName=pdf_text.BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    """reportlab's sample styles in the report's Unicode fonts."""
    pdf_text.register_fonts()
    sample = getSampleStyleSheet()
    styles = {name: ParagraphStyle(name, parent=sample[name], fontName=pdf_text.REGULAR) for name in ("BodyText", "Italic")}
    styles |= {name: ParagraphStyle(name, parent=sample[name], fontName=pdf_text.BOLD) for name in ("Title", "Heading2", "Heading3")}
    styles["warning"] = ParagraphStyle("warning", parent=styles["BodyText"], textColor=colors.HexColor("#8a5a00"), fontName=pdf_text.BOLD)
    return styles


def _table(rows: list[list[Any]], widths: list[float]) -> Table:
    """Every text cell goes through _text: patient names, file names, class and model names come
    from people, DICOM headers and model packs."""
    cells = [[_text(cell, CELL_LABEL if column == 0 else CELL) if isinstance(cell, str) else cell for column, cell in enumerate(row)] for row in rows]
    table = Table(cells, colWidths=widths, hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey)]))
    return table


class PagedCanvas(Canvas):
    """Writes "page X of Y": pages are kept until the document ends, then numbered and drawn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802  (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(pdf_text.REGULAR, 8)
            self.drawRightString(A4[0] - MARGIN, 10 * mm, _("page %(page)s of %(pages)s") % {"page": self._pageNumber, "pages": total}
                                 + " · " + _("printed %(when)s") % {"when": f"{timezone.localtime():%Y-%m-%d %H:%M}"})
            super().showPage()
        super().save()


def _text(value: str, style: ParagraphStyle) -> Paragraph:
    """User- or pack-supplied text, exactly as written, in any script (pdf_text.markup)."""
    return Paragraph(pdf_text.markup(value, style.fontName), style)


def _image(path: Path | None, caption: str, style: ParagraphStyle) -> list[Any]:
    if path is None or not path.is_file():
        return [_text("(" + _("%(caption)s: not available") % {"caption": caption} + ")", style)]
    picture = Image(str(path))
    scale = IMAGE_WIDTH / picture.imageWidth
    picture.drawWidth, picture.drawHeight = IMAGE_WIDTH, picture.imageHeight * scale
    return [picture, _text(caption, style)]


def build_pdf(study: Study, original_preview: Path | None) -> bytes:
    clinic = ClinicSettings.current()
    clinic_name = clinic.clinic_name if clinic else "CXR Workstation"
    analysis = study.latest_analysis
    outcome = analysis.outcome if analysis else None
    reads = list(study.reviews.select_related("reviewer"))  # newest first: an addendum above the read it amends
    review = reads[0] if reads else None
    demonstration = bool(analysis and analysis.pack_name and analysis.demonstration)
    preliminary = review is None
    styles = _styles()
    warning = styles["warning"]

    def decorate(canvas, doc) -> None:  # noqa: ANN001
        canvas.saveState()
        pdf_text.draw_string(canvas, MARGIN, A4[1] - 12 * mm, f"{clinic_name} · " + _("Chest radiograph report") + " · " + _("patient %(id)s") % {"id": study.patient.patient_id}, 9, bold=True)
        notices = []
        if preliminary:
            notices.append(_("PRELIMINARY: not reviewed by a radiologist"))
        if demonstration:
            notices.append(_("Demonstration model, not for diagnosis").upper())
        canvas.setFillColor(colors.HexColor("#b35c00"))
        for i, notice in enumerate(notices):
            pdf_text.draw_string(canvas, MARGIN, 14 * mm + i * 4 * mm, notice, 9, bold=True)
        canvas.setFillColor(colors.black)
        canvas.restoreState()

    story: list[Any] = [Paragraph(_("Chest radiograph report"), styles["Title"])]
    if preliminary:
        story.append(_text(_("PRELIMINARY: this report has not been reviewed and signed by a radiologist."), warning))
    if demonstration:
        story.append(_text(_("Demonstration model, not for diagnosis. The AI result comes from %(pack)s %(version)s, which is not clinically validated.") % {"pack": analysis.pack_name, "version": analysis.pack_version}, warning))
    patient = study.patient
    story += [
        Spacer(1, 4 * mm),
        _table(
            [
                [_("Patient ID"), patient.patient_id],
                [_("Name"), patient.full_name or "—"],
                [_("Sex"), str(patient.get_sex_display())],
                [_("Date of birth / age"), patient.birth_date.isoformat() if patient.birth_date else (ngettext("%(years)d year", "%(years)d years", patient.age_years) % {"years": patient.age_years} if patient.age_years is not None else "—")],
                [_("Study date"), study.study_date.isoformat() if study.study_date else "—"],
                [_("Accession"), study.accession_number or "—"],
                [_("File"), f"{study.original_name} ({study.file_format.upper()}, {study.width}×{study.height})"],
                [_("Received"), f"{timezone.localtime(study.uploaded_at):%Y-%m-%d %H:%M}"],
            ],
            [40 * mm, 120 * mm],
        ),
        Spacer(1, 5 * mm),
    ]
    # The radiologist's conclusion first: it is what the report is for; the AI's result follows.
    story.append(Paragraph(_("Radiologist"), styles["Heading2"]))
    for read in reads:
        if len(reads) > 1:
            label = _("Addendum") if read.is_addendum else _("Original read")
            story.append(_text(label + (" · " + _("the read that stands") if read is review else ""), styles["Heading3"]))
        said = read.finding + (": " + read.detail if read.detail else "")
        story.append(
            _table(
                [
                    [_("Finding"), _text(said + (" (" + _("confirms the AI") + ")" if read.agrees_with_ai else " (" + _("AI said %(finding)s") % {"finding": read.ai_finding} + ")"), styles["BodyText"])],
                    [_("Note"), _text(read.note or "—", styles["BodyText"])],
                    [_("Signed by"), read.reviewer.get_full_name() or read.reviewer.get_username()],
                    [_("Signed at"), f"{timezone.localtime(read.signed_at):%Y-%m-%d %H:%M}"],
                ],
                [40 * mm, 120 * mm],
            )
        )
        story.append(Spacer(1, 2 * mm))
    if not reads:
        story.append(_text(_("Not yet reviewed."), styles["BodyText"]))
    story.append(Spacer(1, 4 * mm))
    display = (analysis.image_path("display") if outcome else None) or original_preview
    overlay = analysis.image_path("overlay") if outcome else None
    if outcome and outcome.analysed:
        caption = _("Radiograph as the AI read it")
        heat = _("Heatmap of the regions behind the AI finding %(finding)s") % {"finding": outcome.consensus.finding}
    elif analysis and analysis.status == AnalysisStatus.REFUSED:
        caption, heat = _("Image refused by the quality gate: %(reason)s") % {"reason": _(analysis.message)}, ""
    else:
        caption, heat = _("Radiograph as received"), ""
    pictures = [_image(display, caption, styles["Italic"])] + ([_image(overlay, heat, styles["Italic"])] if heat else [])
    # The heading stays with its pictures (it sat alone at the foot of page 1).
    story.append(KeepTogether([Paragraph(_("AI result"), styles["Heading2"]), Table([pictures], hAlign="LEFT"), Spacer(1, 4 * mm)]))
    if outcome and outcome.analysed:
        consensus, stored = outcome.consensus, outcome.data["consensus"]  # stored: its review details, translated below
        story.append(
            _table(
                [
                    [_("Finding"), consensus.finding],
                    [_("Confidence"), f"{consensus.confidence:.0%}"],
                    [_("Agreement"), _("%(agreement)s agree") % {"agreement": results.agreement(stored)}],
                    [_("Needs review"), _text("; ".join(results.review_reasons(stored)) if consensus.needs_review else _("no"), styles["BodyText"])],
                    *([[_("Quality gate"), _text(analysis.gate_override_text(), warning)]] if analysis.gate_overridden else []),
                    [_("Model pack"), outcome.pack.label + (" (" + _("not clinically validated") + ")" if not outcome.pack.validated else "")],
                    [_("Intended use"), _text(outcome.pack.intended_use, styles["BodyText"])],
                    # Numbers as the page writes them in the reader's language ("0,22 s" in French).
                    [_("Computed on"), f"{outcome.device}, {number_format(outcome.total_seconds or 0, 2)} s"],
                ],
                [40 * mm, 120 * mm],
            )
        )
        classes = outcome.classes
        rows = [[_("Model"), *classes]] + [[m.name, *[f"{m.probabilities[c]:.0%}" for c in classes]] for m in outcome.members]
        rows.append([_("Consensus"), *[f"{consensus.probabilities[c]:.0%}" for c in classes]])
        first = 50 * mm
        # Never split: a member table whose header sat alone at the foot of page 1 was unreadable.
        story += [Spacer(1, 3 * mm), KeepTogether(_table(rows, [first] + [(TEXT_WIDTH - first) / len(classes)] * len(classes)))]
    elif analysis and analysis.status == AnalysisStatus.REFUSED:
        story.append(_text(_("No finding was made:") + " " + _(analysis.message), styles["BodyText"]))
        if outcome and outcome.advice:
            story.append(_text(_("What to do:") + " " + _(outcome.advice), styles["BodyText"]))
    else:
        story.append(_text(_("No AI result (%(status)s).") % {"status": analysis.get_status_display() if analysis else _("not analysed")}, styles["BodyText"]))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=20 * mm, bottomMargin=26 * mm, title=f"Report {patient.patient_id}")
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate, canvasmaker=PagedCanvas)
    return buffer.getvalue()
