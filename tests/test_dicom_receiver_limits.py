"""The DICOM receiver cannot be jammed by silent connections, and every refusal is audited.

In-process receivers on real sockets: silent TCP connections come from 127.0.0.2 (another
address of this computer's loopback, as another machine on the network would), the X-ray unit
associates from 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from app.audit.models import AuditEvent
from app.dicom import receiver as receiving
from app.dicom.receiver import Receiver, ReceiverSettings
from tests.dicom_samples import free_port

pytestmark = pytest.mark.django_db(transaction=True)
SENDER = "XRAY_ROOM_1"


@pytest.fixture
def running() -> Iterator[Receiver]:
    server = Receiver(ReceiverSettings(port=free_port(), ae_title="CXRWS", allowed_calling=[SENDER]))
    server.start()
    yield server
    server.stop()


def echo(port: int, calling: str = SENDER, called: str = "CXRWS") -> int | None:
    """The C-ECHO status, or None when the association was not accepted."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return None
    status = assoc.send_c_echo().Status
    assoc.release()
    return int(status)


def silent_connection(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.connect(("127.0.0.1", port))
    return sock


def test_silent_connections_do_not_lock_the_x_ray_unit_out(running: Receiver) -> None:
    port = running.config.port
    jammers = [silent_connection(port) for _ in range(12)]
    try:
        started = time.monotonic()
        assert echo(port) == 0x0000  # at once, not after the 30 s pynetdicom used to wait
        assert time.monotonic() - started < 3
        # The ones over the per-peer limit were closed on arrival, the rest when the connect
        # timeout ran out: every jamming socket sees the server hang up.
        deadline = time.monotonic() + receiving.CONNECT_TIMEOUT + 5
        closed = 0
        for sock in jammers:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                closed += sock.recv(1) == b""
            except (ConnectionResetError, TimeoutError, socket.timeout):
                closed += 0
        assert closed == len(jammers)
        assert echo(port) == 0x0000  # and again afterwards: nothing left counted against anyone
    finally:
        for sock in jammers:
            sock.close()
    refused = AuditEvent.objects.filter(action="refused", summary__contains="127.0.0.2")
    assert refused.count() == 1  # one row per peer and minute, not one per connection
    assert f"holds {receiving.PER_PEER_CONNECTIONS} open connections" in refused.get().summary


def test_rejected_associations_are_audited_and_the_called_title_is_checked(running: Receiver) -> None:
    port = running.config.port
    assert echo(port, calling="INTRUDER") is None
    assert echo(port, called="WRONG") is None  # a listed unit that asks for another AE is refused too
    assert echo(port) == 0x0000
    summaries = list(AuditEvent.objects.filter(action="refused").values_list("summary", flat=True))
    assert any("from INTRUDER" in s and "rejected" in s for s in summaries), summaries
    assert any(f"from {SENDER}" in s and "WRONG" in s for s in summaries), summaries
