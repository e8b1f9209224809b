"""Importing a screening day's folder: order of arrival, duplicates, failures, resume after a stop."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from app.clinical import batch_import
from app.clinical.models import ImportBatch, ImportItem, Patient, Study
from app.core.models import ClinicSettings
from app.inference.sample import chest_phantom
from app.jobs import queue
from app.jobs.models import JobState, Priority
from app.jobs.worker import Worker
from tests.base import PASSWORD, BaseTestCase
from tests.shared_data import cxr_files, requires_shared


def make_folder(root: Path, count: int = 4) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = np.clip(chest_phantom(200) + rng.normal(0, 0.03, (200, 200)), 0, 1)
        path = root / f"RFC-{i:04d}.png"
        Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path)
        os.utime(path, (1_700_000_000 + (count - i), 1_700_000_000 + (count - i)))  # newest name first
    shutil.copy(root / "RFC-0001.png", root / "copy-of-1.png")
    os.utime(root / "copy-of-1.png", (1_800_000_000, 1_800_000_000))
    (root / "notes.txt").write_text("screening day notes")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return root


class BatchImportTestCase(BaseTestCase):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = make_folder(tmp_path / "screening-day")
        self.tmp_path = tmp_path

    def setUp(self) -> None:
        super().setUp()
        # The administrator allows the folder the X-ray unit exports to (here: the test's tmp_path).
        ClinicSettings.objects.filter(pk=1).update(import_folders=str(self.tmp_path))

    def run_import(self, worker: Worker | None = None) -> None:
        worker = worker or Worker(worker_id="w")
        job = queue.claim_next(worker.worker_id)
        self.assertEqual(job.kind, batch_import.BATCH_IMPORT)
        worker.execute(job)

    def test_it_imports_in_order_of_arrival_and_reports_duplicates_and_failures(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.post(reverse("batch_import_start"), {"folder": str(self.folder)})
        batch = batch_import.ImportBatch.objects.get()
        self.assertRedirects(r, reverse("batch_import_detail", kwargs={"pk": batch.pk}))
        self.run_import()  # lists the folder and plans each file's patient; stores nothing
        self.assertEqual(Study.objects.count(), 0)
        r = self.client.post(reverse("batch_import_confirm", kwargs={"pk": batch.pk}), {"unknown_names": "new"})
        self.assertRedirects(r, reverse("batch_import_detail", kwargs={"pk": batch.pk}))
        self.run_import()
        counts = batch_import.counts(batch)
        self.assertEqual((counts["stored"], counts["duplicate"], counts["failed"], counts["pending"]), (4, 1, 2, 0))
        stored = [i.study.patient.patient_id for i in batch.items.filter(status="stored").order_by("position")]
        self.assertEqual(stored, ["RFC-0003", "RFC-0002", "RFC-0001", "RFC-0000"])  # oldest file first
        messages = dict(batch.items.exclude(status="stored").values_list("path", "message"))
        self.assertIn("same file as study", messages[str(self.folder / "copy-of-1.png")])
        self.assertIn("not a PNG, JPEG or DICOM", messages[str(self.folder / "notes.txt")])
        self.assertIn("cannot be decoded", messages[str(self.folder / "broken.png")])
        # Analyses are queued in the same order: the queue (by job id) meets the films oldest first.
        from app.clinical.models import Analysis

        queued = [Analysis.objects.get(id=j.payload["analysis_id"]).study.patient.patient_id for j in queue.Job.objects.filter(kind="clinical.analyse_study").order_by("id")]
        self.assertEqual(queued, ["RFC-0003", "RFC-0002", "RFC-0001", "RFC-0000"])
        # ...as bulk work, so an upload at the desk is analysed first.
        self.assertEqual(set(queue.Job.objects.values_list("priority", flat=True)), {Priority.BULK})
        page = self.client.get(reverse("batch_import_detail", kwargs={"pk": batch.pk}))
        self.assertContains(page, "7 of 7 files")
        self.assertContains(page, "finished")
        # The summary says where every stored file went, and that those records have no name yet.
        self.assertContains(page, "Where each file went")
        self.assertContains(page, "RFC-0003</a> <span class=\"tag warn\">no name yet</span>", html=False)

    def test_the_preview_lists_each_file_s_patient_before_anything_is_stored(self) -> None:
        Patient.objects.create(patient_id="RFC-0001", full_name="Ama Mensah")
        self.client.login(username="bob", password=PASSWORD)
        self.client.post(reverse("batch_import_start"), {"folder": str(self.folder)})
        batch = ImportBatch.objects.get()
        self.run_import()
        plan = {Path(i.path).name: (i.planned_patient, i.planned_source, i.planned_new) for i in batch.items.all()}
        self.assertEqual(plan["RFC-0001.png"], ("RFC-0001", "name", False))
        self.assertEqual(plan["RFC-0002.png"], ("RFC-0002", "name", True))
        page = self.client.get(reverse("batch_import_detail", kwargs={"pk": batch.pk}))
        self.assertContains(page, "Check before importing")
        self.assertContains(page, "Nothing is stored until you confirm")
        self.assertContains(page, "creates patient records with those IDs and no name")
        self.assertContains(page, "new record")
        self.assertEqual(Study.objects.count(), 0)
        self.assertEqual(queue.Job.objects.filter(state=JobState.QUEUED).count(), 0)  # waiting for a person, not the worker

    def test_files_named_after_no_known_patient_can_go_to_one_chosen_patient(self) -> None:
        known = Patient.objects.create(patient_id="RFC-0001", full_name="Ama Mensah")
        chosen = Patient.objects.create(patient_id="DAY-2026-11-22", full_name="Screening day, unnamed")
        self.client.login(username="bob", password=PASSWORD)
        self.client.post(reverse("batch_import_start"), {"folder": str(self.folder)})
        batch = ImportBatch.objects.get()
        self.run_import()
        r = self.client.post(reverse("batch_import_confirm", kwargs={"pk": batch.pk}), {"unknown_names": "patient", "unknown_names_patient": "NOBODY"})
        self.assertContains(r, "There is no patient with ID NOBODY", status_code=400)
        self.client.post(reverse("batch_import_confirm", kwargs={"pk": batch.pk}), {"unknown_names": "patient", "unknown_names_patient": "DAY-2026-11-22"})
        self.run_import()
        owners = {i.study.original_name: i.study.patient for i in batch.items.filter(status="stored").select_related("study__patient")}
        self.assertEqual(owners["RFC-0001.png"], known)
        self.assertEqual({owners[n] for n in ("RFC-0000.png", "RFC-0002.png", "RFC-0003.png")}, {chosen})
        self.assertEqual(Patient.objects.count(), 2)  # no unnamed records made

    def test_a_merged_record_s_old_id_sends_its_files_to_the_kept_record(self) -> None:
        kept = Patient.objects.create(patient_id="MRN-77", full_name="Ama Mensah")
        Patient.objects.create(patient_id="RFC-0002", merged_into=kept)
        batch = batch_import.start(self.folder, self.radiographer, confirmed=True)
        self.run_import()
        item = batch.items.get(path=str(self.folder / "RFC-0002.png"))
        self.assertEqual((item.planned_patient, item.planned_new), ("MRN-77", False))
        self.assertEqual(item.study.patient, kept)

    def test_an_interrupted_import_resumes_where_it_stopped(self) -> None:
        batch = batch_import.start(self.folder, self.radiographer, confirmed=True)
        worker = Worker(worker_id="w")
        real_intake = batch_import.intake
        calls = []

        def intake_then_stop(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append(1)
            if len(calls) == 2:
                worker.stop()  # the app is shutting down after the second file
            return real_intake(*args, **kwargs)

        batch_import.intake = intake_then_stop
        try:
            self.run_import(worker)
        finally:
            batch_import.intake = real_intake
        batch.job.refresh_from_db()
        self.assertEqual(batch.job.state, JobState.QUEUED)  # given back, not lost
        self.assertEqual(ImportItem.objects.filter(batch=batch, status="pending").count(), 5)
        self.run_import()
        counts = batch_import.counts(batch)
        self.assertEqual((counts["stored"], counts["pending"]), (4, 0))
        self.assertEqual(Study.objects.count(), 4)

    def test_it_refuses_a_missing_or_relative_folder(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        self.assertContains(self.client.post(reverse("batch_import_start"), {"folder": "usb"}), "full path")
        self.assertContains(self.client.post(reverse("batch_import_start"), {"folder": "/no/such/folder"}), "There is no folder")

    def test_it_refuses_folders_outside_the_allowed_places(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        from django.conf import settings

        for folder in ("/etc", "/usr", str(settings.DATA_DIR.root), str(settings.DATA_DIR.originals)):
            r = self.client.post(reverse("batch_import_start"), {"folder": folder})
            self.assertEqual(r.status_code, 200, folder)
            self.assertTrue("removable media" in r.content.decode() or "own data folder" in r.content.decode(), folder)
        # A link inside an allowed place that leads elsewhere is judged by where it leads.
        (self.tmp_path / "innocent").symlink_to("/etc")
        r = self.client.post(reverse("batch_import_start"), {"folder": str(self.tmp_path / "innocent")})
        self.assertContains(r, "removable media")
        self.assertFalse(ImportBatch.objects.exists())

    def test_a_nul_byte_or_an_overlong_folder_name_is_refused_not_an_error(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        for folder in (str(self.folder) + "\x00/etc", "/" + "a" * 5000):
            r = self.client.post(reverse("batch_import_start"), {"folder": folder})
            self.assertEqual(r.status_code, 200)
            self.assertContains(r, "full path")
        self.assertFalse(ImportBatch.objects.exists())

    def test_links_inside_an_allowed_folder_are_listed_but_never_followed(self) -> None:
        outside = self.tmp_path.parent / f"{self.tmp_path.name}-elsewhere"
        outside.mkdir()
        secret = outside / "other-patient.png"
        shutil.copy(self.folder / "RFC-0000.png", secret)
        (self.folder / "outside_link.png").symlink_to(secret)
        (self.folder / "passwd.dcm").symlink_to("/etc/passwd")
        (self.folder / "linked-folder").symlink_to(outside, target_is_directory=True)
        batch = batch_import.start(self.folder, self.radiographer, confirmed=True)
        self.run_import()
        messages = dict(batch.items.values_list("path", "message"))
        for link in ("outside_link.png", "passwd.dcm"):
            self.assertIn("links are not followed", messages[str(self.folder / link)])
        self.assertFalse(any("linked-folder" in path for path in messages))  # a linked folder is not entered
        self.assertEqual(Study.objects.count(), 4)  # the four real films, not the linked one

    def test_mount_folders_count_as_removable_only_with_a_removable_device(self) -> None:
        from app.platform import removable_media

        mounts = self.tmp_path / "mounts"
        mounts.write_text(
            "/dev/sda1 / ext4 rw 0 0\n"
            "//server/share /mnt/share cifs rw 0 0\n"
            "/dev/sdz1 /media/usb\\040stick vfat rw 0 0\n"
        )
        real = removable_media.is_removable_device
        removable_media.is_removable_device = lambda device: device == "/dev/sdz1"
        try:
            found = removable_media.removable_mounts(mounts)
        finally:
            removable_media.is_removable_device = real
        self.assertEqual(found, [Path("/media/usb stick")])  # not the network share under /mnt, not /
        self.assertFalse(removable_media.is_removable_device("//server/share"))
        # With nothing removable mounted, /mnt and /media are not offered to a radiographer.
        roots = batch_import.allowed_roots()
        self.assertFalse(any(str(r) in ("/mnt", "/media", "/run/media") for r in roots), roots)

    def test_the_folder_is_listed_by_the_worker_not_in_the_request(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        self.client.post(reverse("batch_import_start"), {"folder": str(self.folder)})
        batch = ImportBatch.objects.get()
        self.assertFalse(batch.scanned)
        self.assertEqual(batch.items.count(), 0)
        self.assertContains(self.client.get(reverse("batch_import_detail", kwargs={"pk": batch.pk})), "Listing the folder")
        self.run_import()
        batch.refresh_from_db()
        self.assertTrue(batch.scanned)
        self.assertEqual(batch.items.count(), 7)

    def test_a_folder_with_too_many_files_stops_with_the_reason(self) -> None:
        batch = batch_import.start(self.folder, self.radiographer, confirmed=True)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(batch_import, "MAX_FILES", 3)
            self.run_import()
        batch.refresh_from_db()
        self.assertEqual(batch.job.state, JobState.FAILED)
        self.assertIn("more than 3 files", batch.message)
        self.assertEqual(batch.items.count(), 0)
        self.client.login(username="bob", password=PASSWORD)
        self.assertContains(self.client.get(reverse("batch_import_detail", kwargs={"pk": batch.pk})), "more than 3 files")

    def test_a_file_that_keeps_killing_the_worker_is_skipped_not_the_import(self) -> None:
        batch = batch_import.start(self.folder, self.radiographer, confirmed=True)
        self.run_import(Worker(worker_id="w"))  # lists and imports everything once
        # As if the worker had died twice while reading the third file, and the job was re-queued:
        third = batch.items.order_by("position")[2]
        ImportItem.objects.filter(id=third.id).update(status="pending", attempts=batch_import.MAX_ITEM_ATTEMPTS, study=None)
        Study.objects.filter(pk=third.study_id).delete()
        queue.Job.objects.filter(id=batch.job_id).update(state=JobState.QUEUED, attempts=2)
        self.run_import()
        third.refresh_from_db()
        self.assertEqual(third.status, "failed")
        self.assertIn("stopped the import 2 times", third.message)
        batch.job.refresh_from_db()
        self.assertEqual(batch.job.state, JobState.SUCCEEDED)

    def test_crashes_count_per_file_not_per_import(self) -> None:
        batch = batch_import.start(self.folder, self.radiographer, confirmed=True)
        queue.Job.objects.filter(id=batch.job_id).update(attempts=2)  # two crashes on earlier files
        self.run_import()
        batch.job.refresh_from_db()
        self.assertEqual(batch.job.state, JobState.SUCCEEDED)
        self.assertEqual(batch.job.attempts, 1)  # reset as files were finished: a third crash would not fail it

    def test_an_administrator_can_allow_a_folder(self) -> None:
        ClinicSettings.objects.filter(pk=1).update(import_folders="")
        self.client.login(username="bob", password=PASSWORD)
        self.assertContains(self.client.post(reverse("batch_import_start"), {"folder": str(self.folder)}), "removable media")
        self.client.login(username="alice", password=PASSWORD)
        self.client.post(reverse("clinic_settings"), {"clinic_name": "Riverside", "language": "en", "dicom_ae_title": "CXRWS", "session_idle_minutes": 30, "import_folders": str(self.tmp_path)})
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.post(reverse("batch_import_start"), {"folder": str(self.folder)})
        self.assertEqual(r.status_code, 302)


@requires_shared
class DicomCdImportTestCase(BaseTestCase):
    """A patient's CD or USB stick: DICOM files without extensions under a DICOMDIR index."""

    @pytest.fixture(autouse=True)
    def _cd(self, tmp_path: Path) -> None:
        from pydicom.fileset import FileSet

        from tests.dicom_samples import cr_dataset

        fileset = FileSet()
        for i, film in enumerate(cxr_files(limit=3)):
            fileset.add(cr_dataset(film, f"CD-{i}"))
        self.cd = tmp_path / "cdrom"
        fileset.write(self.cd)
        ClinicSettings.objects.filter(pk=1).update(import_folders=str(tmp_path))

    def test_it_imports_the_studies_of_a_dicomdir_cd(self) -> None:
        self.assertTrue((self.cd / "DICOMDIR").is_file())
        batch = batch_import.start(self.cd, self.radiographer, confirmed=True)
        worker = Worker(worker_id="w")
        worker.execute(queue.claim_next(worker.worker_id))
        counts = batch_import.counts(batch)
        self.assertEqual((counts["stored"], counts["failed"], counts["total"]), (3, 0, 3))  # the index is not an import item
        self.assertEqual(set(Patient.objects.values_list("patient_id", flat=True)), {"CD-0", "CD-1", "CD-2"})
