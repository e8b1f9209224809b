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
from tests.shared_data import DICOM_MONO2, REPO, a_radiograph, requires_shared

DCIODVFY = shutil.which("dciodvfy")
DSRDUMP = shutil.which("dsrdump")
ARTIFACTS = REPO / "test-artifacts" / "dicom"


def dciodvfy_errors(content: bytes, tmp: Path) -> list[str]:
    path = tmp / "object.dcm"
    path.write_bytes(content)
    done = subprocess.run([DCIODVFY, "-new", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


class ResultsClient:
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


@requires_shared
@pytest.mark.usefixtures("tiny_pack_active")
class DicomResultsTestCase(ResultsClient, BaseTestCase):
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

        content = self.export(study, "sr")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "ai-result-sr.dcm").write_bytes(content)  # for dsrdump by a person
        sr = hd.sr.srread(io.BytesIO(content))
        self.assertEqual(sr.SOPClassUID, ComprehensiveSRStorage)
        self.assertEqual(sr.StudyInstanceUID, original.StudyInstanceUID)
        # The source image referenced is the original film.
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
        self.assertEqual(evidence.ReferencedSOPInstanceUID, original.SOPInstanceUID)

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
        people = [str(i.PersonName) for i in content_items(sr) if i.ValueType == "PNAME"]
        self.assertEqual(people, ["Carol"])  # the signed read, observed by its radiologist


def content_items(dataset: pydicom.Dataset):  # noqa: ANN201
    """Every SR content item below the root, depth first."""
    for item in getattr(dataset, "ContentSequence", []):
        yield item
        yield from content_items(item)


def code_of(sequence: pydicom.Sequence) -> tuple[str, str, str]:
    item = sequence[0]
    return (str(item.get("CodeValue", "")), str(item.get("CodingSchemeDesignator", "")), str(item.get("CodeMeaning", "")))


@requires_shared
@pytest.mark.usefixtures("tiny_pack_active")
class CodedStructuredReportTestCase(ResultsClient, BaseTestCase):
    def sr(self, study: Study) -> pydicom.Dataset:
        return hd.sr.srread(io.BytesIO(self.export(study, "sr")))

    def test_every_concept_is_coded_and_the_findings_read_back(self) -> None:
        study = self.upload(DICOM_MONO2, "chest.dcm")
        outcome = study.latest_analysis.outcome
        sr = self.sr(study)
        items = list(content_items(sr))
        for item in [sr, *items]:
            for key in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
                if key in item:
                    value, scheme, meaning = code_of(item[key].value)
                    self.assertTrue(value and scheme and meaning, (key, value, scheme, meaning))
        self.assertEqual(code_of(sr.ConceptNameCodeSequence), ("126000", "DCM", "Imaging Measurement Report"))
        # The algorithm is a device observer, identified by name, version and the pack's checksum.
        texts = {code_of(i.ConceptNameCodeSequence)[0]: i.TextValue for i in items if i.ValueType == "TEXT"}
        self.assertEqual((texts["111001"], texts["111003"]), ("tiny-test", "0.0.1"))
        self.assertRegex(texts["111002"], r"^pack checksum sha256:[0-9a-f]{64}$")
        observer = [code_of(i.ConceptCodeSequence) for i in items if i.ValueType == "CODE" and code_of(i.ConceptNameCodeSequence)[0] == "121005"]
        self.assertEqual(observer, [("121007", "DCM", "Device")])
        # The procedure, and each class as a coded finding with its probability in UCUM percent.
        self.assertIn(("399208008", "SCT", "Plain chest X-ray"), [code_of(i.ConceptCodeSequence) for i in items if i.ValueType == "CODE"])
        finding_types = [code_of(i.ConceptCodeSequence) for i in items if i.ValueType == "CODE" and code_of(i.ConceptNameCodeSequence)[0] == "121071"]
        expected = {"COVID-19": "840539006", "Viral Pneumonia": "75570004", "Normal": "408573005"}
        self.assertEqual(finding_types[0][0], expected.get(outcome.consensus.finding, finding_types[0][0]))  # the consensus group first
        self.assertEqual({code for code, _scheme, _meaning in finding_types[1:]}, {*expected.values(), "CXR-C-LUNG-OPACI"})
        presence = [code_of(i.ConceptCodeSequence)[2] for i in items if i.ValueType == "CODE" and code_of(i.ConceptCodeSequence)[0] in ("52101004", "272519000")]
        self.assertEqual(sorted(presence), ["Absent", "Absent", "Absent", "Present"])
        percents = [float(i.MeasuredValueSequence[0].NumericValue) for i in items if i.ValueType == "NUM" and code_of(i.MeasuredValueSequence[0].MeasurementUnitsCodeSequence)[:2] == ("%", "UCUM")]
        self.assertEqual(len(percents), 5)  # the consensus's own, then one per class
        self.assertAlmostEqual(sum(percents[1:]), 100.0, delta=0.5)
        flags = {code_of(i.ConceptNameCodeSequence)[2]: code_of(i.ConceptCodeSequence)[2] for i in items if i.ValueType == "CODE"}
        self.assertEqual(flags["Needs review"], "Yes" if outcome.consensus.needs_review else "No")
        self.assertEqual((flags["Quality gate overruled"], flags["Clinically validated model pack"]), ("No", "No"))
        # The private scheme is declared, and highdicom reads the groups back.
        self.assertEqual(sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator, "99CXRWS")
        groups = sr.content.get_image_measurement_groups()
        self.assertEqual(len(groups), 5)
        meanings = {"COVID-19": "Disease caused by SARS-CoV-2", "Viral Pneumonia": "Viral pneumonia", "Normal": "Imaging result normal"}
        self.assertEqual(groups[0].finding_type.meaning, meanings.get(outcome.consensus.finding, outcome.consensus.finding))
        self.assertEqual([m.unit.value for m in groups[0].get_measurements()], ["%", "{models}"])
        self.assertEqual(len(sr.content.get_observer_contexts()), 1)  # the device; no person until a read is signed

    def test_the_signed_read_is_a_separate_observation_by_a_person(self) -> None:
        from app.clinical.reading import sign

        study = self.upload(DICOM_MONO2, "chest.dcm")
        ai_finding = study.latest_analysis.finding
        read = "Normal" if ai_finding != "Normal" else "COVID-19"
        sign(study, study.latest_analysis, self.radiologist, finding=read, note="Clear lungs." if read == "Normal" else "Bilateral opacities.")
        sr = self.sr(study)
        self.assertEqual(sr.PreliminaryFlag, "FINAL")
        groups = [i for i in sr.ContentSequence if code_of(i.ConceptNameCodeSequence)[0] == "126010"][0].ContentSequence
        read_group = groups[-1]
        context = {code_of(i.ConceptNameCodeSequence)[2]: i for i in read_group.ContentSequence if i.RelationshipType == "HAS OBS CONTEXT"}
        self.assertEqual(code_of(context["Observer Type"].ConceptCodeSequence), ("121006", "DCM", "Person"))
        self.assertEqual(str(context["Person Observer Name"].PersonName), "Carol")
        finding = [code_of(i.ConceptCodeSequence) for i in read_group.ContentSequence if code_of(i.ConceptNameCodeSequence)[0] == "121071"]
        self.assertEqual(finding[0][2], {"Normal": "Imaging result normal", "COVID-19": "Disease caused by SARS-CoV-2"}[read])
        # The AI's own group still says what the AI said, observed by the device.
        ai = [code_of(i.ConceptCodeSequence)[2] for i in groups[0].ContentSequence if code_of(i.ConceptNameCodeSequence)[0] == "121071"]
        self.assertNotEqual(ai[0], finding[0][2])
        self.assertFalse(any(i.RelationshipType == "HAS OBS CONTEXT" and code_of(i.ConceptNameCodeSequence)[0] == "121005" for i in groups[0].ContentSequence))

    @pytest.mark.skipif(DSRDUMP is None, reason="needs dsrdump (apt-get install dcmtk); .ci/run installs it")
    def test_dsrdump_shows_coded_concepts(self) -> None:
        import tempfile

        from app.clinical.reading import sign

        study = self.upload(DICOM_MONO2, "chest.dcm")
        sign(study, study.latest_analysis, self.radiologist, finding="Other abnormality", detail="Right pleural effusion", note="")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sr.dcm"
            path.write_bytes(self.export(study, "sr"))
            done = subprocess.run([DSRDUMP, "+Pc", str(path)], capture_output=True, text=True, timeout=60)
            if DCIODVFY:
                self.assertEqual(dciodvfy_errors(path.read_bytes(), Path(folder)), [])
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn("(,,", done.stdout)
        for expected in ("(126000,DCM,", "(399208008,SCT,", '(121007,DCM,"Device")', '(121006,DCM,"Person")', "(%,UCUM,", '(CXR-READ-1,99CXRWS,"Other abnormality")'):
            self.assertIn(expected, done.stdout)
