"""Merging two records of one person: studies move, the old record stays (merged) and its ID
still finds the person in searches, uploads and DICOM intake."""

from __future__ import annotations

from django.urls import reverse

from app.audit.models import AuditEvent
from app.clinical.intake import _patient_from_tags
from app.clinical.models import Patient, Study
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory, PatientFactory


class PatientMergeTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.keep = PatientFactory(patient_id="MRN-1001", full_name="Ama Mensah")
        self.duplicate = PatientFactory(patient_id="RFC-0007", full_name="")
        self.study = AnalysisFactory(study__patient=self.duplicate).study
        self.client.login(username="bob", password=PASSWORD)

    def merge(self, **extra: str):  # noqa: ANN201
        data = {"keep": "MRN-1001", "reason": "same person registered twice"} | extra
        return self.client.post(reverse("patient_merge", kwargs={"pk": self.duplicate.pk}), data)

    def test_it_shows_both_records_before_merging(self) -> None:
        r = self.merge()
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "Compare the two records")
        self.assertContains(r, "Ama Mensah")
        self.study.refresh_from_db()
        self.assertEqual(self.study.patient, self.duplicate)  # nothing merged without the tick

    def test_it_moves_the_studies_and_the_old_id_still_finds_them(self) -> None:
        r = self.merge(confirmed="on")
        self.assertRedirects(r, reverse("patient_detail", kwargs={"pk": self.keep.pk}))
        self.study.refresh_from_db()
        self.assertEqual(self.study.patient, self.keep)
        self.duplicate.refresh_from_db()
        self.assertEqual(self.duplicate.merged_into, self.keep)  # kept, not deleted
        self.assertContains(self.client.get(reverse("worklist") + "?q=RFC-0007"), "MRN-1001")
        self.assertContains(self.client.get(reverse("patient_list") + "?q=RFC-0007"), "MRN-1001")
        self.assertRedirects(self.client.get(reverse("patient_detail", kwargs={"pk": self.duplicate.pk})), reverse("patient_detail", kwargs={"pk": self.keep.pk}))
        self.assertContains(self.client.get(reverse("patient_detail", kwargs={"pk": self.keep.pk})), "RFC-0007")
        # A DICOM file from the X-ray unit with the old ID lands on the kept record.
        patient, created = _patient_from_tags({"patient_id": "RFC-0007"}, self.radiographer)
        self.assertEqual((patient, created), (self.keep, False))
        summaries = list(AuditEvent.objects.filter(action="merged").values_list("summary", flat=True))
        self.assertEqual(summaries, ["Patient RFC-0007 merged into MRN-1001 (1 studies moved): same person registered twice"] * 2)
        self.assertTrue(AuditEvent.objects.filter(action="moved", object_id=str(self.study.pk)).exists())

    def test_it_refuses_merging_a_record_into_itself_or_an_unknown_id(self) -> None:
        r = self.client.post(reverse("patient_merge", kwargs={"pk": self.duplicate.pk}), {"keep": "RFC-0007", "reason": "same person", "confirmed": "on"})
        self.assertContains(r, "That is this record", status_code=400)
        r = self.client.post(reverse("patient_merge", kwargs={"pk": self.duplicate.pk}), {"keep": "NOBODY", "reason": "same person", "confirmed": "on"})
        self.assertContains(r, "There is no patient with ID NOBODY", status_code=400)
        self.assertFalse(Patient.objects.exclude(merged_into=None).exists())

    def test_a_merged_record_is_gone_from_the_patient_list(self) -> None:
        self.merge(confirmed="on")
        listing = self.client.get(reverse("patient_list"))
        self.assertNotContains(listing, ">RFC-0007</a>")
        self.assertContains(listing, ">MRN-1001</a>")
        self.assertEqual(Study.objects.filter(patient=self.keep).count(), 1)
