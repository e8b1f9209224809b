"""Uploading: real radiographs and DICOMs become studies with a queued analysis; bad files are refused."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from app.audit.models import AuditEvent
from app.clinical.models import Patient, Study
from app.jobs.models import Job
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import PatientFactory
from tests.shared_data import DICOM_MONO2, a_radiograph, requires_shared


def upload_file(path, name: str | None = None) -> SimpleUploadedFile:  # noqa: ANN001
    return SimpleUploadedFile(name or path.name, path.read_bytes())


class UploadTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.login(username="bob", password=PASSWORD)
        self.patient = PatientFactory(patient_id="RFC-0001")

    @requires_shared
    def test_it_stores_a_real_radiograph_and_queues_its_analysis(self) -> None:
        r = self.client.post(reverse("upload"), {"patient": self.patient.pk, "files": [upload_file(a_radiograph())]})
        study = Study.objects.get()
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": study.pk}), fetch_redirect_response=False)
        self.assertEqual(study.patient, self.patient)
        self.assertEqual(study.file_format, "jpeg")
        self.assertEqual((settings.DATA_DIR.originals / study.stored_name).read_bytes(), a_radiograph().read_bytes())
        self.assertEqual(study.latest_analysis.job.kind, "clinical.analyse_study")
        self.assertEqual(study.latest_analysis.job.state, "queued")
        self.assertTrue(AuditEvent.objects.filter(action="created", object_type="study").exists())
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertContains(page, "position 1 in the queue")

    @requires_shared
    def test_it_recognises_the_same_file_uploaded_twice(self) -> None:
        self.client.post(reverse("upload"), {"patient": self.patient.pk, "files": [upload_file(a_radiograph())]})
        r = self.client.post(reverse("upload"), {"patient": self.patient.pk, "files": [upload_file(a_radiograph(), "renamed.jpg")]})
        self.assertContains(r, "Already stored (same file)")
        self.assertEqual(Study.objects.count(), 1)
        self.assertEqual(Job.objects.count(), 1)

    @requires_shared
    def test_a_dicom_brings_its_own_patient(self) -> None:
        r = self.client.post(reverse("upload"), {"files": [upload_file(DICOM_MONO2)]})
        study = Study.objects.get()
        self.assertEqual(r.status_code, 302)
        self.assertEqual(study.patient.patient_id, "16d7f894-55d7-4d95-8957-d18987f0e981")
        self.assertEqual(study.patient.sex, "M")
        self.assertEqual(study.patient.age_years, 62)
        self.assertEqual(study.dicom["view_position"], "PA")

    def test_it_refuses_a_hostile_file_and_stores_nothing(self) -> None:
        fake = SimpleUploadedFile("xray.png", b"%PDF-1.4 pretending to be an image" * 10)
        r = self.client.post(reverse("upload"), {"patient": self.patient.pk, "files": [fake]})
        self.assertContains(r, "Not stored: This file is a PDF document")
        self.assertFalse(Study.objects.exists())
        self.assertEqual([p.name for p in settings.DATA_DIR.originals.iterdir() if p.name.startswith(".incoming")], [])

    def test_a_png_without_patient_is_refused(self) -> None:
        import io

        import numpy as np
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.zeros((100, 100), np.uint8)).save(buffer, "PNG")
        r = self.client.post(reverse("upload"), {"files": [SimpleUploadedFile("a.png", buffer.getvalue())]})
        self.assertContains(r, "no patient ID")
        self.assertFalse(Study.objects.exists())
        self.assertEqual(Patient.objects.count(), 1)

    @requires_shared
    def test_a_dicom_is_not_merged_silently_into_a_patient_with_another_name(self) -> None:
        PatientFactory(patient_id="16d7f894-55d7-4d95-8957-d18987f0e981", full_name="Someone Else")
        r = self.client.post(reverse("upload"), {"files": [upload_file(DICOM_MONO2)]})
        self.assertContains(r, "is registered as “Someone Else”")
        self.assertFalse(Study.objects.exists())
        existing = Patient.objects.get(patient_id="16d7f894-55d7-4d95-8957-d18987f0e981")
        r = self.client.post(reverse("upload"), {"patient": existing.pk, "files": [upload_file(DICOM_MONO2)]})
        self.assertEqual(Study.objects.get().patient, existing)


class SimultaneousUploadTestCase(BaseTestCase):
    """Two uploads of one new file at the same moment: each checks "already stored?" before the
    other has committed, so the second insert meets the unique sha256. It must say "already
    stored", not fail (it was HTTP 500: the lookup ran inside a broken transaction)."""

    def test_the_second_of_two_simultaneous_uploads_is_reported_as_already_stored(self) -> None:
        from unittest import mock

        from django.db.models.query import QuerySet

        from tests.clinical_factories import StudyFactory

        self.client.login(username="bob", password=PASSWORD)
        patient = PatientFactory()
        content = _a_png()
        import hashlib

        other = StudyFactory(sha256=hashlib.sha256(content).hexdigest(), patient=patient)  # the other upload's row
        real_first = QuerySet.first
        calls = {"n": 0}

        def first_misses_once(qs):  # noqa: ANN001, ANN202
            calls["n"] += 1
            return None if calls["n"] == 1 else real_first(qs)  # the pre-check ran before the other commit

        with mock.patch.object(QuerySet, "first", first_misses_once):
            r = self.client.post(reverse("upload"), {"patient": patient.pk, "files": [SimpleUploadedFile("chest.png", content)]})
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "Already stored")
        self.assertEqual(list(Study.objects.values_list("pk", flat=True)), [other.pk])
        self.assertEqual(Job.objects.count(), 0)
        self.assertEqual([p.name for p in settings.DATA_DIR.originals.iterdir() if p.name.startswith(".incoming")], [])


def _a_png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    yy, xx = np.mgrid[0:300, 0:300]
    Image.fromarray(((xx * 7 + yy * 3) % 256).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
