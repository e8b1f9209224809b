from __future__ import annotations

from django.urls import reverse

from app.audit.models import AuditEvent
from app.clinical.models import Patient
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import PatientFactory


class PatientsTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.login(username="bob", password=PASSWORD)

    def test_it_registers_a_patient(self) -> None:
        r = self.client.post(reverse("patient_create"), {"patient_id": "RFC-7", "full_name": "Amina Okoro", "sex": "F", "age_years": 34})
        patient = Patient.objects.get(patient_id="RFC-7")
        self.assertRedirects(r, reverse("patient_detail", kwargs={"pk": patient.pk}))
        self.assertEqual(patient.created_by, self.radiographer)
        self.assertTrue(AuditEvent.objects.filter(action="created", object_type="patient", username="bob").exists())

    def test_it_prevents_duplicate_ids(self) -> None:
        PatientFactory(patient_id="RFC-7")
        r = self.client.post(reverse("patient_create"), {"patient_id": "RFC-7", "full_name": "Someone", "sex": "U"})
        self.assertContains(r, "This patient ID is already registered")
        self.assertContains(r, "Merge with another record")
        existing = Patient.objects.get(patient_id="RFC-7")
        self.assertContains(r, f'href="{reverse("patient_detail", kwargs={"pk": existing.pk})}"')
        self.assertEqual(Patient.objects.filter(patient_id="RFC-7").count(), 1)

    def test_it_refuses_both_birth_date_and_age(self) -> None:
        r = self.client.post(reverse("patient_create"), {"patient_id": "X1", "sex": "U", "birth_date": "1990-01-01", "age_years": 30})
        self.assertContains(r, "either the date of birth or the age")

    def test_it_searches_by_id_and_name(self) -> None:
        PatientFactory(patient_id="RFC-1", full_name="Amina Okoro")
        PatientFactory(patient_id="RFC-2", full_name="John Banda")
        page = self.client.get(reverse("patient_list"), {"q": "okoro"})
        self.assertEqual([p.patient_id for p in page.context["page"].object_list], ["RFC-1"])
        self.assertContains(self.client.get(reverse("patient_list"), {"q": "zzz"}), "No patient matches")

    def test_edits_are_audited_with_before_and_after(self) -> None:
        patient = PatientFactory(patient_id="RFC-1", full_name="Amina Okoro")
        self.client.post(reverse("patient_edit", kwargs={"pk": patient.pk}), {"patient_id": "RFC-1", "full_name": "Amina Okoro-Banda", "sex": "F"})
        event = AuditEvent.objects.get(action="changed")
        self.assertEqual(event.detail["changes"]["full_name"], ["Amina Okoro", "Amina Okoro-Banda"])

    def test_the_audit_log_is_read_only_and_for_administrators(self) -> None:
        PatientFactory()
        self.client.login(username="alice", password=PASSWORD)
        self.client.post(reverse("patient_create"), {"patient_id": "X", "sex": "U"})  # admin: 403, nothing written
        self.assertFalse(Patient.objects.filter(patient_id="X").exists())
        r = self.client.get(reverse("audit_log"))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(self.client.post(reverse("audit_log")).status_code, 405)


class AccentInsensitiveSearchTestCase(BaseTestCase):
    def test_jose_finds_jose_with_its_accent(self) -> None:
        from tests.clinical_factories import AnalysisFactory, PatientFactory

        patient = PatientFactory(patient_id="MRN-7", full_name="José Ñúñez")
        AnalysisFactory(study__patient=patient)
        self.client.login(username="bob", password=PASSWORD)
        self.assertContains(self.client.get(reverse("patient_list"), {"q": "jose nunez"}), "MRN-7")
        self.assertContains(self.client.get(reverse("worklist"), {"q": "JOSE"}), "MRN-7")
        self.assertNotContains(self.client.get(reverse("patient_list"), {"q": "maria"}), "MRN-7")
