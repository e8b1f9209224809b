"""Text from users and files stays text: filters validated, IDs printable, CSV cells inert, nothing cached."""

from __future__ import annotations

import csv
import io

from django.urls import reverse

from app.clinical.models import Patient
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory


class UntrustedTextTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.login(username="bob", password=PASSWORD)

    def test_it_says_what_is_wrong_with_a_date_filter_instead_of_failing(self) -> None:
        AnalysisFactory()
        for bad in ("yesterday", "2026-13-45", "'; DROP TABLE", "2026-01-01T00:00"):
            page = self.client.get(reverse("worklist"), {"from": bad, "to": "2026-02-30"})
            self.assertEqual(page.status_code, 200, bad)
            self.assertContains(page, "is not a date; write it as YYYY-MM-DD")
            self.assertEqual(len(page.context["page"].object_list), 1)  # the bad filters were left out
            export = self.client.get(reverse("worklist_csv"), {"from": bad})
            self.assertEqual(export.status_code, 400, bad)
            self.assertIn("is not a date", export.content.decode())

    def test_a_good_date_filter_still_filters(self) -> None:
        AnalysisFactory()
        page = self.client.get(reverse("worklist"), {"from": "2999-01-01"})
        self.assertEqual(len(page.context["page"].object_list), 0)

    def test_csv_cells_that_look_like_formulas_stay_text(self) -> None:
        analysis = AnalysisFactory()
        patient = analysis.study.patient
        Patient.objects.filter(pk=patient.pk).update(full_name='=HYPERLINK("http://example.invalid","click")')
        rows = list(csv.DictReader(io.StringIO(self.client.get(reverse("worklist_csv")).content.decode("utf-8-sig"))))
        self.assertEqual(rows[0]["patient_name"], '\'=HYPERLINK("http://example.invalid","click")')
        for prefix in ("+", "-", "@"):
            Patient.objects.filter(pk=patient.pk).update(full_name=f"{prefix}cmd")
            rows = list(csv.DictReader(io.StringIO(self.client.get(reverse("worklist_csv")).content.decode("utf-8-sig"))))
            self.assertEqual(rows[0]["patient_name"], f"'{prefix}cmd")

    def test_patient_ids_must_be_printable(self) -> None:
        for bad in ("RFC\n0001", 'RFC"0001', "RFC\\0001", "RFC\t1", "RFC\x00", "RFC\u202e1"):
            r = self.client.post(reverse("patient_create"), {"patient_id": bad, "sex": "U"})
            self.assertEqual(r.status_code, 200, repr(bad))
            self.assertFalse(Patient.objects.filter(patient_id=bad).exists(), repr(bad))
        r = self.client.post(reverse("patient_create"), {"patient_id": "RFC-0001/ß", "sex": "U"})
        self.assertEqual(r.status_code, 302)
        self.client.post(reverse("patient_create"), {"patient_id": "  RFC-0002 ", "sex": "U"})
        self.assertTrue(Patient.objects.filter(patient_id="RFC-0002").exists())  # surrounding spaces trimmed

    def test_a_report_file_name_is_safe_whatever_the_stored_id(self) -> None:
        analysis = AnalysisFactory()
        Patient.objects.filter(pk=analysis.study.patient.pk).update(patient_id='old"id\nwith break')
        r = self.client.get(reverse("study_report", kwargs={"pk": analysis.study.pk}))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r["Content-Disposition"], f'inline; filename="report-old_id_with_break-{analysis.study.pk}.pdf"')

    def test_nothing_a_logged_in_user_sees_is_cached(self) -> None:
        analysis = AnalysisFactory()
        study, patient = analysis.study, analysis.study.patient
        for url in (
            reverse("home"), reverse("worklist"), reverse("patient_list"), reverse("patient_detail", kwargs={"pk": patient.pk}),
            reverse("study_detail", kwargs={"pk": study.pk}), reverse("study_report", kwargs={"pk": study.pk}),
            reverse("study_json", kwargs={"pk": study.pk}), reverse("worklist_csv"),
        ):
            r = self.client.get(url)
            self.assertEqual(r.status_code, 200, url)
            self.assertEqual(r["Cache-Control"], "no-store", url)
