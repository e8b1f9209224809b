"""Moving a study to the right patient: from its page, or from an upload of the same film to
another patient; audited, shown in the study's history, and its exports name the new patient."""

from __future__ import annotations

import io
import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from app.audit.models import AuditEvent
from app.clinical.models import Patient, Study
from app.inference.sample import chest_phantom
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory, PatientFactory


def a_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((chest_phantom(256) * 255).astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


class StudyMoveTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.study = AnalysisFactory().study
        self.wrong = self.study.patient
        self.right = PatientFactory(patient_id="RFC-0042", full_name="Amina Okoro")
        self.client.login(username="bob", password=PASSWORD)

    def test_it_moves_the_study_with_its_analyses_and_says_why_in_the_audit_log(self) -> None:
        r = self.client.post(reverse("study_move", kwargs={"pk": self.study.pk}), {"patient": "RFC-0042", "reason": "uploaded on the wrong patient"})
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": self.study.pk}))
        self.study.refresh_from_db()
        self.assertEqual(self.study.patient, self.right)
        self.assertEqual(self.study.latest_analysis.study_id, self.study.pk)
        event = AuditEvent.objects.get(action="moved")
        self.assertEqual((event.username, event.detail["from_patient"], event.detail["to_patient"]), ("bob", self.wrong.patient_id, "RFC-0042"))
        self.assertEqual(event.detail["reason"], "uploaded on the wrong patient")
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.study.pk}))
        self.assertContains(page, f"moved from patient {self.wrong.patient_id} to RFC-0042: uploaded on the wrong patient")
        exported = json.loads(self.client.get(reverse("study_json", kwargs={"pk": self.study.pk})).content)
        self.assertEqual(exported["patient"]["patient_id"], "RFC-0042")

    def test_it_refuses_an_unknown_patient_or_no_reason(self) -> None:
        r = self.client.post(reverse("study_move", kwargs={"pk": self.study.pk}), {"patient": "NOBODY", "reason": "wrong patient"})
        self.assertContains(r, "There is no patient with ID NOBODY", status_code=400)
        r = self.client.post(reverse("study_move", kwargs={"pk": self.study.pk}), {"patient": "RFC-0042", "reason": ""})
        self.assertContains(r, "Say why", status_code=400)
        r = self.client.post(reverse("study_move", kwargs={"pk": self.study.pk}), {"patient": self.wrong.patient_id, "reason": "same patient"})
        self.assertContains(r, "already belongs to patient", status_code=400)
        self.study.refresh_from_db()
        self.assertEqual(self.study.patient, self.wrong)
        self.assertFalse(AuditEvent.objects.filter(action="moved").exists())

    def test_uploading_the_same_film_to_another_patient_offers_to_move_it_there(self) -> None:
        first = self.client.post(reverse("upload"), {"patient": self.wrong.pk, "files": [SimpleUploadedFile("film.png", a_png())]})
        study = Study.objects.get(original_name="film.png")
        self.assertEqual(first.status_code, 302)
        again = self.client.post(reverse("upload"), {"patient": self.right.pk, "files": [SimpleUploadedFile("film.png", a_png())]})
        self.assertContains(again, "Already stored (same file)")
        self.assertContains(again, "Move the existing study to patient RFC-0042")
        # The offer is a form that moves the study, with the reason filled in.
        self.assertContains(again, f'action="{reverse("study_move", kwargs={"pk": study.pk})}"')
        r = self.client.post(reverse("study_move", kwargs={"pk": study.pk}), {"patient": "RFC-0042", "reason": f"stored on patient {self.wrong.patient_id} by mistake"})
        self.assertEqual(r.status_code, 302)
        study.refresh_from_db()
        self.assertEqual(study.patient, self.right)
        self.assertEqual(Study.objects.filter(original_name="film.png").count(), 1)

    def test_the_same_film_uploaded_again_for_the_same_patient_offers_nothing(self) -> None:
        self.client.post(reverse("upload"), {"patient": self.right.pk, "files": [SimpleUploadedFile("film.png", a_png())]})
        again = self.client.post(reverse("upload"), {"patient": self.right.pk, "files": [SimpleUploadedFile("film.png", a_png())]})
        self.assertNotContains(again, "Move the existing study")

    def test_a_merged_record_s_id_moves_the_study_to_the_record_that_stands(self) -> None:
        Patient.objects.create(patient_id="OLD-7", merged_into=self.right)
        self.client.post(reverse("study_move", kwargs={"pk": self.study.pk}), {"patient": "OLD-7", "reason": "wrong patient at the desk"})
        self.study.refresh_from_db()
        self.assertEqual(self.study.patient, self.right)
