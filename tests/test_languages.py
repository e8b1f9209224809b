"""The app in English, French, Spanish and Portuguese: each person's choice, else the clinic's;
every catalogue complete; every page rendered in every language with no marked text left in
English; the PDF report in the reader's language."""

from __future__ import annotations

import io
import re
from pathlib import Path

import polib
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from pypdf import PdfReader

from app.core.models import ClinicSettings, UserPreference
from app.inference.sample import chest_phantom
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory
from tests.test_access_matrix import all_url_names

LOCALE = Path(settings.LOCALE_PATHS[0])
TRANSLATED = [code for code, _ in settings.LANGUAGES if code != "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    for language in TRANSLATED:
        for entry in catalogue(language):
            assert "fuzzy" not in entry.flags, (language, entry.msgid)
            translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
            assert all(t.strip() for t in translations), (language, entry.msgid)
            for text in translations:
                assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(entry.msgid)), (language, entry.msgid, text)


def test_every_plural_has_the_forms_its_language_needs() -> None:
    """One form per plural the language has (Plural-Forms), each saying the number: "1 days"
    and "plus de 1 jours" came from sentences that were not written as plurals at all."""
    for language in TRANSLATED:
        po = catalogue(language)
        forms = int(re.search(r"nplurals=(\d+)", po.metadata["Plural-Forms"]).group(1))
        for entry in po:
            if entry.msgid_plural and not entry.obsolete:
                assert len(entry.msgstr_plural) == forms, (language, entry.msgid)


def test_no_number_is_put_before_a_plural_noun_without_a_plural_form() -> None:
    """Templates say "{{ n }} days" only inside a blocktranslate count (checked by the catalogue
    test above); a bare "{{ days }} days" is the "1 days" bug."""
    templates = Path(__file__).resolve().parent.parent / "ui" / "templates"
    bare = re.compile(r"\{\{ *(\w+) *\}\} (days|studies|files|films|models|reads)\b")
    for path in templates.rglob("*.html"):
        for block in re.split(r"\{% endblocktranslate %\}", path.read_text(encoding="utf-8")):
            if "{% plural %}" in block:
                continue
            start = block.rfind("{% blocktranslate")
            text = block[start:] if start >= 0 else ""
            assert not bare.search(text), (path.name, bare.search(text).group(0))


def test_the_compiled_catalogues_match_their_sources() -> None:
    for language in TRANSLATED:
        compiled = {e.msgid: e.msgstr for e in polib.mofile(str(LOCALE / language / "LC_MESSAGES" / "django.mo")) if not e.msgid_plural}
        for entry in catalogue(language):
            if not entry.msgid_plural:
                assert compiled.get(entry.msgid) == entry.msgstr, f"{language}: run `manage.py compilemessages` ({entry.msgid!r})"


def english_leftovers(html: str, language: str) -> list[str]:
    """Marked messages (longer than one word) that came out in English on a page."""
    # The model card is the pack authors' document, in their language; the page says so.
    html = re.sub(r'<article class="model-card">.*?</article>', " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html)
    return [e.msgid for e in catalogue(language) if " " in e.msgid and "%(" not in e.msgid and e.msgstr != e.msgid and e.msgid in text]


class LanguagesTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.analysis = AnalysisFactory(finding="Abnormal", positive=True, demonstration=True)
        self.study = self.analysis.study

    def choose(self, user, language: str) -> None:  # noqa: ANN001
        UserPreference.objects.update_or_create(user=user, defaults={"language": language})

    def test_a_person_chooses_their_language_on_the_preferences_page(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.post(reverse("preferences"), {"language": "es"}, follow=True)
        self.assertContains(r, '<html lang="es">')
        self.assertContains(r, "Preferencias guardadas.")
        self.assertContains(self.client.get(reverse("worklist")), "Lista de trabajo")
        # Another person at the same browser keeps the clinic's language.
        self.client.logout()
        self.client.login(username="carol", password=PASSWORD)
        self.assertContains(self.client.get(reverse("worklist")), '<html lang="en">')

    def test_the_clinic_language_is_the_default_and_reaches_the_login_page(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(language="pt")
        self.assertContains(self.client.get(reverse("login")), "Iniciar sessão")
        self.client.login(username="carol", password=PASSWORD)
        self.assertContains(self.client.get(reverse("worklist")), "Lista de trabalho")

    def test_every_page_renders_in_every_language_without_english_left(self) -> None:
        kwargs = {
            "patient_detail": {"pk": self.study.patient.pk}, "patient_edit": {"pk": self.study.patient.pk},
            "study_detail": {"pk": self.study.pk}, "study_move": {"pk": self.study.pk}, "study_void": {"pk": self.study.pk},
            "patient_merge": {"pk": self.study.patient.pk},
        }
        skip = {"logout", "study_status", "study_image", "study_retry", "study_analyse_anyway", "study_compare", "study_comparisons", "study_dicom", "study_send", "worklist_compare", "study_review", "study_report",
                "study_json", "worklist_csv", "batch_import_detail", "batch_import_resume", "backup_now", "pack_import",
                "pack_activate", "pack_rollback", "pack_file", "model_card_pack", "first_run", "health", "login",
                "study_amend", "study_retake_done", "batch_import_confirm", "study_restore", "voided_image", "urgent_banner", "statistics_csv", "study_pixels", "settings_pacs_echo", "settings_receiver_restart", "restore_check", "restore_request", "restore_cancel", "user_edit", "user_reset_password", "user_unlock", "audit_log_csv", "site_profile", "site_profile_activate", "site_profile_retire", "site_profile_import"}
        pages = sorted(all_url_names() - skip)
        self.assertGreater(len(pages), 15)
        for language in [code for code, _ in settings.LANGUAGES]:
            for persona in self.personas.values():
                self.choose(persona, language)
                self.client.login(username=persona.username, password=PASSWORD)
                for name in pages:
                    r = self.client.get(reverse(name, kwargs=kwargs.get(name)))
                    if r.status_code == 403:
                        continue  # not this persona's page; another persona renders it
                    self.assertEqual(r.status_code, 200, (language, persona.username, name))
                    html = r.content.decode()
                    self.assertIn(f'<html lang="{language}">', html, name)
                    if language != "en":
                        self.assertEqual(english_leftovers(html, language), [], (language, name))

    def test_the_pdf_report_is_in_the_readers_language(self) -> None:
        expected = {"en": "Chest radiograph report", "fr": "Compte rendu de radiographie thoracique", "es": "Informe de radiografía de tórax", "pt": "Relatório de radiografia de tórax"}
        for language, title in expected.items():
            self.choose(self.radiographer, language)
            self.client.login(username="bob", password=PASSWORD)
            pdf = self.client.get(reverse("study_report", kwargs={"pk": self.study.pk})).content
            text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)
            self.assertIn(title, text, language)

    def test_the_ai_results_own_sentences_are_translated_too(self) -> None:
        from app.clinical.models import Analysis
        from app.inference.consensus import review_reason_text

        details = [{"code": "low_confidence", "confidence": 0.65, "threshold": 0.75}, {"code": "low_agreement", "agreement": 3, "members": 6}]
        consensus = {**self.analysis.result["consensus"], "agreement": 3, "members": 6, "needs_review": True,
                     "review_details": details, "review_reasons": [review_reason_text(d) for d in details]}
        Analysis.objects.filter(pk=self.analysis.pk).update(result={**self.analysis.result, "consensus": consensus})
        self.choose(self.radiologist, "fr")
        self.client.login(username="carol", password=PASSWORD)
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.study.pk}))
        self.assertContains(page, "3 modèles sur 6 concordent")
        self.assertContains(page, "confiance de 65%, sous le seuil de relecture de 75%")
        self.assertNotContains(page, "below the review threshold")

    def test_an_upload_refusal_is_in_the_readers_language(self) -> None:
        buffer = io.BytesIO()
        Image.fromarray((chest_phantom() * 255).astype("uint8")).save(buffer, format="PNG")
        self.choose(self.radiographer, "fr")
        self.client.login(username="bob", password=PASSWORD)
        page = self.client.post(reverse("upload"), {"files": [SimpleUploadedFile("film.png", buffer.getvalue())]})
        self.assertContains(page, "Ce fichier ne porte pas d&#x27;identifiant patient.")


class StoredSentencesTestCase(BaseTestCase):
    def test_the_engine_s_notes_and_import_reasons_are_in_the_reader_s_language(self) -> None:
        from django.utils import translation

        from app.core.templatetags.results import import_message, note_words

        with translation.override("fr"):
            self.assertEqual(note_words(["VOI LUT / window applied from the DICOM header", "12-bit values scaled to the image's own range"]),
                             ["fenêtre propre du fichier DICOM appliquée", "valeurs sur 12 bits ramenées à la plage de l’image"])
            self.assertEqual(import_message("same file as study 12"), "même fichier que l’étude 12")
            self.assertEqual(import_message("cannot be decoded: odd bytes"), "cannot be decoded: odd bytes")  # a reader's own detail stays
