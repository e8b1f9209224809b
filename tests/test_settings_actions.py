"""Settings an administrator can check from the page: the PACS answers a DICOM echo, the DICOM
receiver restarts with its saved settings, folders and ports that cannot work are refused."""

from __future__ import annotations

import socket
import tempfile

from django.urls import reverse
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from app.audit.models import AuditEvent
from app.core.models import ClinicSettings
from app.dicom import receiver
from tests.base import PASSWORD, BaseTestCase
from tests.dicom_samples import free_port

SETTINGS = {"clinic_name": "Riverside", "language": "en", "dicom_ae_title": "CXRWS", "session_idle_minutes": 30}


class SettingsActionsTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.login(username="alice", password=PASSWORD)

    def test_the_pacs_test_says_whether_it_answered(self) -> None:
        port = free_port()
        ClinicSettings.objects.filter(pk=1).update(pacs_host="127.0.0.1", pacs_port=port, pacs_ae_title="PACS")
        r = self.client.post(reverse("settings_pacs_echo"), follow=True)
        self.assertContains(r, "The PACS did not answer")
        pacs = AE(ae_title="PACS")
        pacs.add_supported_context(Verification)
        pacs.start_server(("127.0.0.1", port), block=False)
        try:
            r = self.client.post(reverse("settings_pacs_echo"), follow=True)
        finally:
            pacs.shutdown()
        self.assertContains(r, f"The PACS answered (PACS at 127.0.0.1:{port})")
        self.assertTrue(AuditEvent.objects.filter(summary__startswith="PACS connection test succeeded").exists())

    def test_the_receiver_restarts_with_the_saved_settings(self) -> None:
        port = free_port()
        ClinicSettings.objects.filter(pk=1).update(dicom_port=port, dicom_allowed_calling="XRAY_ROOM_1")
        try:
            r = self.client.post(reverse("settings_receiver_restart"), follow=True)
            self.assertContains(r, f"The DICOM receiver listens on port {port} as CXRWS")
            echo = AE(ae_title="XRAY_ROOM_1")
            echo.add_requested_context(Verification)
            assoc = echo.associate("127.0.0.1", port, ae_title="CXRWS")
            self.assertTrue(assoc.is_established)
            assoc.release()
            home = self.client.get(reverse("home"))
            self.assertContains(home, f"Listening on port {port} as CXRWS")
        finally:
            receiver.stop_current()

    def test_folders_that_do_not_exist_and_ports_in_use_are_refused(self) -> None:
        r = self.client.post(reverse("clinic_settings"), SETTINGS | {"import_folders": "/no/such/folder"})
        self.assertContains(r, "does not exist on this computer or cannot be read")
        r = self.client.post(reverse("clinic_settings"), SETTINGS | {"import_folders": tempfile.mkdtemp()})
        self.assertEqual(r.status_code, 302)
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            taken = held.getsockname()[1]
            r = self.client.post(reverse("clinic_settings"), SETTINGS | {"dicom_port": taken})
        self.assertContains(r, f"Port {taken} cannot be used")
