"""The AI result as DICOM: a Secondary Capture and a Comprehensive SR in the original study,
read back with pydicom and highdicom, and checked by dciodvfy (dicom3tools) where installed."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom.uid import ComprehensiveSRStorage, SecondaryCaptureImageStorage

from app.clinical.models import Patient, Study
from tests.base import PASSWORD, BaseTestCase
from tests.shared_data import DICOM_MONO2, a_radiograph, requires_shared

DCIODVFY = shutil.which("dciodvfy")


def dciodvfy_errors(content: bytes, tmp: Path) -> list[str]:
    path = tmp / "object.dcm"
    path.write_bytes(content)
    done = subprocess.run([DCIODVFY, "-new", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


@requires_shared
@pytest.mark.usefixtures("tiny_pack_active")
class DicomResultsTestCase(BaseTestCase):

    def upload(self, path: Path, name: str, patient: Patient | None = None) -> Study:
        self.client.login(username="carol", password=PASSWORD)
        fields = {"files": [SimpleUploadedFile(name, path.read_bytes())]} | ({"patient": patient.pk} if patient else {})
        self.client.post(reverse("upload"), fields)
        self.run_jobs()
        return Study.objects.order_by("-id").first()

    def export(self, study: Study, kind: str) -> bytes:
        r = self.client.get(reverse("study_dicom", kwargs={"pk": study.pk, "kind": kind}))
        self.assertEqual(r.status_code, 200, r.content[:300])
        self.assertEqual(r["Content-Type"], "application/dicom")
        return b"".join(r.streaming_content) if r.streaming else r.content

    def test_a_dicom_study_gets_a_secondary_capture_and_an_sr_in_the_same_study(self) -> None:
        study = self.upload(DICOM_MONO2, "chest.dcm")
        self.assertEqual(study.latest_analysis.status, "analysed")
        original = pydicom.dcmread(DICOM_MONO2, stop_before_pixels=True)
        sc = pydicom.dcmread(io.BytesIO(self.export(study, "sc")))
        self.assertEqual(sc.SOPClassUID, SecondaryCaptureImageStorage)
        self.assertEqual((sc.StudyInstanceUID, sc.PatientID), (original.StudyInstanceUID, original.PatientID))
        self.assertEqual(sc.BurnedInAnnotation, "YES")
        self.assertEqual(sc.pixel_array.shape[2], 3)
        self.assertIn("demonstration", sc.SeriesDescription)

        sr = hd.sr.srread(io.BytesIO(self.export(study, "sr")))
        self.assertEqual(sr.SOPClassUID, ComprehensiveSRStorage)
        self.assertEqual(sr.StudyInstanceUID, original.StudyInstanceUID)
        texts = {item.ConceptNameCodeSequence[0].CodeMeaning: getattr(item, "TextValue", None) for item in sr.ContentSequence}
        self.assertEqual(texts["Finding"], study.latest_analysis.finding)
        self.assertEqual(texts["Algorithm Name"], "tiny-test")
        self.assertIn("NOT clinically validated", texts["Clinical validation status"])
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
        self.assertEqual(evidence.ReferencedSOPInstanceUID, sc.SOPInstanceUID)

    def test_the_app_refuses_its_own_ai_result_sent_back_to_it(self) -> None:
        study = self.upload(DICOM_MONO2, "chest.dcm")
        studies = Study.objects.count()
        for kind in ("sc", "sr"):
            returned = self.export(study, kind)
            self.client.post(reverse("upload"), {"files": [SimpleUploadedFile(f"result-{kind}.dcm", returned)]})
            self.run_jobs()
        self.assertEqual(Study.objects.count(), studies)  # no "COVID-19 78%" study made of a picture of a result
        # The same picture stripped of our name is still refused: a derived image with burnt-in text.
        sc = pydicom.dcmread(io.BytesIO(self.export(study, "sc")))
        sc.Manufacturer = "Someone else"
        import tempfile

        from app.inference.errors import InputError
        from app.inference.io.files import load_image

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "foreign-sc.dcm"
            sc.save_as(path)
            with self.assertRaisesRegex(InputError, "burnt-in annotation"):
                load_image(path)

    def test_a_png_study_gets_a_stable_study_uid_and_the_patient_record(self) -> None:
        patient = Patient.objects.create(patient_id="RFC-0042", full_name="Amina Okoro", sex="F")
        study = self.upload(a_radiograph(), "chest.jpg", patient)
        first, second = (pydicom.dcmread(io.BytesIO(self.export(study, "sc"))) for _ in range(2))
        self.assertEqual(first.SOPInstanceUID, second.SOPInstanceUID)  # exporting twice gives the same object
        self.assertEqual((first.PatientID, str(first.PatientName), first.PatientSex), ("RFC-0042", "Amina^Okoro", "F"))
        sr = pydicom.dcmread(io.BytesIO(self.export(study, "sr")))
        self.assertEqual(sr.StudyInstanceUID, first.StudyInstanceUID)

    @pytest.mark.skipif(DCIODVFY is None, reason="needs dciodvfy (apt-get install dicom3tools); .ci/run installs it")
    def test_dciodvfy_finds_no_errors(self) -> None:
        import tempfile

        study = self.upload(DICOM_MONO2, "chest.dcm")
        for kind in ("sc", "sr"):
            self.assertEqual(dciodvfy_errors(self.export(study, kind), Path(tempfile.mkdtemp())), [], kind)

    def test_no_result_no_export(self) -> None:
        from tests.clinical_factories import AnalysisFactory

        study = AnalysisFactory(status="refused").study
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.get(reverse("study_dicom", kwargs={"pk": study.pk, "kind": "sr"}))
        self.assertEqual(r.status_code, 404)

    def test_a_moved_study_s_objects_name_the_new_patient_and_the_signed_read(self) -> None:
        from app.clinical.reading import sign
        from app.corrections.actions import move_study

        study = self.upload(DICOM_MONO2, "chest.dcm")
        before = pydicom.dcmread(io.BytesIO(self.export(study, "sc")))
        right = Patient.objects.create(patient_id="RIGHT-1", full_name="Kofi Boateng", sex="M")
        move_study(study, right, self.radiologist, "uploaded on the wrong patient")
        sign(study, study.latest_analysis, self.radiologist, finding="Normal", note="Clear lungs.")
        after = pydicom.dcmread(io.BytesIO(self.export(study, "sc")))
        self.assertEqual((after.PatientID, str(after.PatientName)), ("RIGHT-1", "Kofi^Boateng"))
        self.assertEqual(after.StudyInstanceUID, before.StudyInstanceUID)  # still the same imaging study
        self.assertNotEqual(after.SOPInstanceUID, before.SOPInstanceUID)  # a new object for the PACS, not a silent change
        sr = hd.sr.srread(io.BytesIO(self.export(study, "sr")))
        self.assertEqual(sr.PatientID, "RIGHT-1")
        texts = {item.ConceptNameCodeSequence[0].CodeMeaning: getattr(item, "TextValue", None) for item in sr.ContentSequence}
        self.assertTrue(texts["Radiologist's signed finding"].startswith("Normal (signed by Carol"), texts)
        self.assertEqual(texts["Finding"], study.latest_analysis.finding)  # the AI's own finding is kept apart
