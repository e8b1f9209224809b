"""The signed PDF report says exactly what the radiologist wrote, in any script, and nothing a
person or a model pack writes can change the report, fetch a file or open a connection."""

from __future__ import annotations

import io
import json
import socket
import unicodedata
from unittest import mock

from django.urls import reverse
from pypdf import PdfReader

from app.clinical.models import Analysis, Patient
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory

HOSTILE_LINES = [
    "Nodule <1 cm & <b>unclosed ... effusion <font",
    '<img src="http://10.255.255.1/x.png"/> and <img src="/etc/passwd"/>',
    '<a href="http://example.invalid/">see here</a> <script>alert(1)</script> &amp; &lt;',
    "<font size=40>BIG</font> <para>x</para> ]]> <!-- c -->",
    "Café, niño, façade, Ærø, Łódź, Ünal",
    "无胸腔积液，心影正常。",
    "لا يوجد انصباب جنبي",
    "Плевральный выпот не выявлен",
]


def comparable(text: str) -> str:
    """NFKC: Arabic is drawn in its joined (presentation) forms, which copy-paste from the PDF
    gives back as such; NFKC maps them (and full-width punctuation) to the letters typed. Runs of
    white space become one space: the report wraps long lines to its column."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def pdf_text(content: bytes) -> str:
    return comparable("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages))


class ReportTextTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.analysis = AnalysisFactory(finding="Abnormal", positive=True, demonstration=True)
        self.study = self.analysis.study

    def sign(self, note: str) -> None:
        self.client.login(username="carol", password=PASSWORD)
        r = self.client.post(reverse("study_review", kwargs={"pk": self.study.pk}), {"finding": "Normal", "note": note})
        self.assertEqual(r.status_code, 302)

    def report(self) -> str:
        connections: list[object] = []

        def refuse(sock: socket.socket, address: object) -> None:
            connections.append(address)
            raise OSError("outbound connection attempted by the report")

        with mock.patch.object(socket.socket, "connect", refuse):
            r = self.client.get(reverse("study_report", kwargs={"pk": self.study.pk}))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(connections, [])
        return pdf_text(r.content)

    def test_it_reproduces_a_hostile_multilingual_note_verbatim(self) -> None:
        note = "\r\n".join(HOSTILE_LINES)
        self.sign(note)
        text = self.report()
        self.assertIn(comparable(" ".join(HOSTILE_LINES)), text)  # every line, in order
        self.assertNotIn("PRELIMINARY", text)

    def test_the_fonts_travel_inside_the_pdf(self) -> None:
        # A field clinic's PDF viewer may have no Chinese font: the glyphs must be embedded.
        self.sign("无胸腔积液 and Café")
        self.client.login(username="bob", password=PASSWORD)
        reader = PdfReader(io.BytesIO(self.client.get(reverse("study_report", kwargs={"pk": self.study.pk})).content))
        fonts = {}
        for page in reader.pages:
            for font in page["/Resources"]["/Font"].values():
                font = font.get_object()
                descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"] if "/DescendantFonts" in font else font.get("/FontDescriptor")
                fonts[str(font["/BaseFont"]).split("+")[-1]] = descriptor is not None and "/FontFile2" in descriptor.get_object()
        self.assertTrue(fonts.get("DroidSansFallback"), fonts)
        self.assertTrue(fonts.get("DejaVuSans"), fonts)

    def test_the_note_is_exact_in_the_json_export(self) -> None:
        note = "\n".join(HOSTILE_LINES)
        self.sign(note)
        body = json.loads(self.client.get(reverse("study_json", kwargs={"pk": self.study.pk})).content)
        self.assertEqual(body["reviews"][0]["note"], note)

    def test_pack_and_patient_strings_are_text_too(self) -> None:
        result = dict(self.analysis.result)
        result["pack"] = {**result["pack"], "name": "<b>evil</b> pack", "intended_use": '<img src="/etc/hostname"/> research & <i>teaching</i>'}
        Analysis.objects.filter(pk=self.analysis.pk).update(result=result)
        Patient.objects.filter(pk=self.study.patient.pk).update(full_name="李小龍 <b>Ｘ</b>", sex="F")
        self.client.login(username="bob", password=PASSWORD)
        text = self.report()
        self.assertIn("<b>evil</b> pack", text)
        self.assertIn('<img src="/etc/hostname"/> research & <i>teaching</i>', text)
        self.assertIn(comparable("李小龍 <b>Ｘ</b>"), text)
