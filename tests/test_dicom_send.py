"""Sending the AI result to the PACS: a real C-STORE to a pynetdicom Storage SCP standing in for
the PACS, automatic after the analysis when switched on, by hand from the study page, and a clear
failure with a way to send again when the PACS does not answer."""

from __future__ import annotations

import os
import threading
from unittest import mock

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pynetdicom import AE, evt
from pynetdicom.sop_class import ComprehensiveSRStorage, SecondaryCaptureImageStorage

from app.dicom import send as dicom_send
from app.audit.models import AuditEvent
from app.clinical.models import Study
from app.core.models import ClinicSettings
from app.jobs.models import Job, JobState
from tests.base import PASSWORD, BaseTestCase
from tests.dicom_samples import free_port
from tests.shared_data import DICOM_MONO2, requires_shared



class FakePacs:
    """A Storage SCP that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[pydicom.Dataset] = []
        self.lock = threading.Lock()
        self.ae = AE(ae_title="PACS")
        self.ae.add_supported_context(SecondaryCaptureImageStorage)
        self.ae.add_supported_context(ComprehensiveSRStorage)
        self.port = free_port()

    def __enter__(self) -> FakePacs:
        def on_store(event) -> int:  # noqa: ANN001
            with self.lock:
                self.received.append(event.dataset)
            return 0x0000

        self.ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
        return self

    def __exit__(self, *exc: object) -> None:
        self.ae.shutdown()


@requires_shared
@pytest.mark.usefixtures("tiny_pack_active")
class SendResultTestCase(BaseTestCase):

    def upload_dicom(self) -> Study:
        self.client.login(username="carol", password=PASSWORD)
        self.client.post(reverse("upload"), {"files": [SimpleUploadedFile("chest.dcm", DICOM_MONO2.read_bytes())]})
        self.run_jobs()
        return Study.objects.get()

    def test_it_sends_sc_and_sr_automatically_after_the_analysis(self) -> None:
        with FakePacs() as pacs:
            ClinicSettings.objects.filter(pk=1).update(pacs_host="127.0.0.1", pacs_port=pacs.port, pacs_ae_title="PACS", pacs_send_automatically=True)
            study = self.upload_dicom()
        original = pydicom.dcmread(DICOM_MONO2, stop_before_pixels=True)
        self.assertEqual(sorted(d.SOPClassUID for d in pacs.received), sorted([SecondaryCaptureImageStorage, ComprehensiveSRStorage]))
        self.assertEqual({d.StudyInstanceUID for d in pacs.received}, {original.StudyInstanceUID})
        self.assertEqual(dicom_send.latest_send(study).state, JobState.SUCCEEDED)
        self.assertTrue(AuditEvent.objects.filter(summary__contains="sent to the PACS PACS").exists())
        self.assertContains(self.client.get(reverse("study_detail", kwargs={"pk": study.pk})), "Sent to the PACS")

    def test_a_pacs_that_does_not_answer_fails_the_job_with_the_reason_and_can_be_retried(self) -> None:
        waits = mock.patch.object(dicom_send, "RETRY_WAITS", (0.01, 0.01))  # the waits are not what is tested
        waits.start()
        self.addCleanup(waits.stop)
        port = free_port()  # nobody listens
        ClinicSettings.objects.filter(pk=1).update(pacs_host="127.0.0.1", pacs_port=port, pacs_ae_title="PACS")
        study = self.upload_dicom()
        self.assertIsNone(dicom_send.latest_send(study))  # not automatic unless switched on
        self.client.post(reverse("study_send", kwargs={"pk": study.pk}))
        self.run_jobs()
        job = dicom_send.latest_send(study)
        self.assertEqual(job.state, JobState.FAILED)
        self.assertIn("could not be reached after 3 tries", job.error)
        page = self.client.get(reverse("study_detail", kwargs={"pk": study.pk}))
        self.assertContains(page, "could not be reached")
        self.assertContains(page, "Send to the PACS again")
        with FakePacs() as pacs:
            ClinicSettings.objects.filter(pk=1).update(pacs_port=pacs.port)
            self.client.post(reverse("study_send", kwargs={"pk": study.pk}))
            self.run_jobs()
        self.assertEqual(len(pacs.received), 2)
        self.assertEqual(Job.objects.filter(kind=dicom_send.SEND_RESULT).count(), 2)


def test_a_fresh_worker_process_knows_the_send_job(tmp_path) -> None:  # noqa: ANN001
    # A send queued before a restart must run in a worker that never served the study page.
    import subprocess
    import sys

    from tests.shared_data import REPO

    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "shell", "-c", "from app.jobs.registry import handler_for; print(handler_for('clinical.send_result') is not None)"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "CXR_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.stdout.strip().splitlines()[-1] == "True", done.stderr
