"""The DICOM receiver on a real association: the launched app listens, pynetdicom's own SCU sends.

Real films (the shared DICOM and cxr/ films wrapped as Computed Radiography objects) are stored,
matched to patients from their tags and analysed; a wrong calling AE title is refused at
association, a non-image SOP class and an undecodable image get failure statuses, and nothing of
theirs is stored. 100 images in one association: none lost; the throughput goes in
docs/performance.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import BasicTextSRStorage, ComputedRadiographyImageStorage as CRStorage, Verification

from tests.dicom_samples import cr_dataset, free_port
from tests.launched_app import LaunchedApp, wait_for
from tests.shared_data import DICOM_MONO2, cxr_files, requires_shared

pytestmark = [pytest.mark.slow, requires_shared]
SENDER = "XRAY_ROOM_1"



@pytest.fixture
def receiving_app(tmp_path: Path):  # noqa: ANN201
    port = free_port()
    app = LaunchedApp(tmp_path / "data", offline_guard=True, env={"CXR_DICOM_PORT": str(port), "CXR_DICOM_AE_TITLE": "CXRWS"})
    app.start()
    assert app.terminate() == 0
    app.manage(f"from app.core.models import ClinicSettings; ClinicSettings.objects.update_or_create(pk=1, defaults=dict(clinic_name='Rx', dicom_allowed_calling={SENDER!r}))")
    app.start()
    app.dicom_port = port
    yield app
    assert app.terminate() == 0


def associate(port: int, calling: str = SENDER):  # noqa: ANN201
    ae = AE(ae_title=calling)
    ae.add_requested_context(CRStorage)
    ae.add_requested_context(Verification)
    ae.add_requested_context(BasicTextSRStorage)
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.1.1")  # Digital X-Ray for presentation
    shared = pydicom.dcmread(DICOM_MONO2, stop_before_pixels=True)
    ae.add_requested_context(shared.SOPClassUID, [shared.file_meta.TransferSyntaxUID])  # sent as compressed
    return ae.associate("127.0.0.1", port, ae_title="CXRWS")


def test_it_receives_real_films_and_refuses_what_it_must(receiving_app: LaunchedApp) -> None:
    app = receiving_app
    assoc = associate(app.dicom_port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assert assoc.send_c_store(pydicom.dcmread(DICOM_MONO2)).Status == 0x0000
    assert assoc.send_c_store(cr_dataset(cxr_files(limit=1)[0], "RFC-0001")).Status == 0x0000
    # A report is not a radiograph; a CR whose pixels are missing cannot be read.
    report = Dataset()
    report.SOPClassUID, report.SOPInstanceUID = BasicTextSRStorage, generate_uid()
    report.PatientID, report.Modality = "RFC-0002", "SR"
    report.file_meta = FileMetaDataset()
    report.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert assoc.send_c_store(report).Status == 0x0122
    broken = cr_dataset(cxr_files(limit=2)[1], "RFC-0003")
    del broken.PixelData
    assert assoc.send_c_store(broken).Status == 0xC000
    assoc.release()
    patients = {pid for (pid,) in app.query("SELECT patient_id FROM clinical_patient")}
    assert patients == {pydicom.dcmread(DICOM_MONO2, stop_before_pixels=True).PatientID, "RFC-0001"}
    assert app.query("SELECT COUNT(*) FROM clinical_study")[0][0] == 2
    assert [p.name for p in (app.data_dir / "images" / "originals").iterdir() if p.name.startswith(".")] == []
    wait_for(lambda: app.query("SELECT COUNT(*) FROM clinical_analysis WHERE status IN ('analysed', 'refused')")[0][0] == 2, timeout=180, what="both analysed")
    summary = app.query("SELECT summary FROM clinical_auditevent WHERE summary LIKE 'DICOM association%'")
    assert summary and f"from {SENDER}" in summary[0][0] and "2 of 4 images accepted" in summary[0][0]

    # pynetdicom's own storescu app, as an administrator would test the link from a shell.
    film = app.data_dir.parent / "from-storescu.dcm"
    cr_dataset(cxr_files(limit=3)[2], "RFC-0004").save_as(film, enforce_file_format=True)
    sent = subprocess.run([sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(app.dicom_port), str(film), "-aet", SENDER, "-aec", "CXRWS"],
                          capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    assert app.query("SELECT COUNT(*) FROM clinical_patient WHERE patient_id = 'RFC-0004'")[0][0] == 1

    wrong = associate(app.dicom_port, calling="INTRUDER")
    assert not wrong.is_established and wrong.is_rejected
    assert app.get_json("health")["status"] == "ok"


def test_a_hundred_images_in_one_association_none_lost(receiving_app: LaunchedApp) -> None:
    app = receiving_app
    films = cxr_files(limit=100)
    datasets = [cr_dataset(film, f"RFC-{i:04d}") for i, film in enumerate(films)]
    assoc = associate(app.dicom_port)
    started = time.perf_counter()
    statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    seconds = time.perf_counter() - started
    assoc.release()
    assert statuses == [0x0000] * len(datasets)
    assert app.query("SELECT COUNT(*) FROM clinical_study")[0][0] == len(datasets)
    assert app.query("SELECT COUNT(*) FROM clinical_analysis")[0][0] == len(datasets)
    print(f"received, stored and queued {len(datasets)} images in {seconds:.1f} s ({len(datasets) / seconds:.1f} images/s)")
