"""DICOM receiver (Storage SCP, pynetdicom): the X-ray unit or digitiser sends films straight in.

Off unless a port is configured (Clinic settings, or CXR_DICOM_PORT for headless use). It listens
on 127.0.0.1 unless the administrator allows the network (the X-ray unit is on the LAN: that is
the point, so it is one deliberate switch). Only calling AE titles on the allowed list may
associate (with an empty list the receiver does not start). C-ECHO answers. Every received image goes through
exactly the same intake as an upload (validation by content, patient from the tags, duplicate
detection, analysis queued); what intake refuses is answered with a failure status, never a
crash, and leaves nothing behind. Each association is in the audit log, accepted or rejected.

Jamming: a connection that does not associate within CONNECT_TIMEOUT seconds is dropped, one peer
may hold at most PER_PEER_CONNECTIONS connections at once (more are closed on arrival), and the
receiver holds MAX_ASSOCIATIONS in all, so a handful of silent connections cannot lock the X-ray
unit out. The called AE title must be the receiver's own.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections
from pynetdicom import ALL_TRANSFER_SYNTAXES, AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

log = logging.getLogger(__name__)

# Images the models can judge; anything else (CT, SR, presentation states, PDFs...) is refused.
IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray, for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray, for processing
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture (digitised films)
}
SUCCESS = 0x0000
REFUSED_SOP_CLASS = 0x0122  # SOP class not supported
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110
OUT_OF_RESOURCES = 0xA700

# Seconds a peer has to send its association request (pynetdicom's ARTIM/ACSE timer; its default
# of 30 s let twelve silent connections lock every X-ray unit out, again and again).
CONNECT_TIMEOUT = 5
NETWORK_TIMEOUT = 30  # an associated peer silent this long is dropped
MAX_ASSOCIATIONS = 16
PER_PEER_CONNECTIONS = 4
AUDIT_REFUSALS_EVERY = 60.0  # seconds: one audit row per refused peer and minute, not one per connection


@dataclass
class ReceiverSettings:
    port: int
    ae_title: str = "CXRWS"
    allowed_calling: list[str] = field(default_factory=list)
    listen_on_network: bool = False

    @property
    def host(self) -> str:
        return "0.0.0.0" if self.listen_on_network else "127.0.0.1"  # noqa: S104 (the administrator's choice)


def configured() -> ReceiverSettings | None:
    """The receiver's settings, or None when it is off. The environment wins (headless servers)."""
    from app.core.models import ClinicSettings

    clinic = ClinicSettings.current()
    port = settings.DICOM_PORT or (clinic.dicom_port if clinic else 0) or 0
    if not port:
        return None
    return ReceiverSettings(
        port=port,
        ae_title=settings.DICOM_AE_TITLE or (clinic.dicom_ae_title if clinic else "") or "CXRWS",
        allowed_calling=[t.strip() for t in (clinic.dicom_allowed_calling if clinic else "").replace(",", "\n").splitlines() if t.strip()],
        listen_on_network=bool(clinic and clinic.dicom_listen_on_network),
    )


def store(dataset, calling: str, address: str) -> tuple[int, str]:  # noqa: ANN001 (pydicom Dataset)
    """One received image through the upload intake; (DICOM status, what happened)."""
    from django.core.files import File

    from app.platform import disk_full
    from app.clinical.intake import IntakeError, intake

    if str(dataset.SOPClassUID) not in IMAGE_SOP_CLASSES:
        return REFUSED_SOP_CLASS, f"refused {dataset.SOPClassUID}: not a radiograph the models can judge"
    incoming = settings.DATA_DIR.originals / f".incoming-dicom-{uuid.uuid4().hex}.dcm"
    try:
        dataset.save_as(incoming, enforce_file_format=True)
        with incoming.open("rb") as handle:
            result = intake(File(handle, name=f"{dataset.SOPInstanceUID}.dcm"), None, None)
        return SUCCESS, f"{'already stored as' if result.duplicate else 'stored as'} study {result.study.pk}"
    except IntakeError as exc:
        return CANNOT_UNDERSTAND, str(exc)
    except disk_full.DiskFull:
        return OUT_OF_RESOURCES, disk_full.MESSAGE
    except Exception as exc:  # a bad dataset must never take the receiver down
        log.exception("Could not store an image from %s (%s)", calling, address)
        return PROCESSING_FAILURE, f"{exc.__class__.__name__}: {exc}"
    finally:
        incoming.unlink(missing_ok=True)


class Receiver:
    def __init__(self, config: ReceiverSettings) -> None:
        self.config = config
        self.ae = AE(ae_title=config.ae_title)
        # Every storage class is negotiated (so a wrong one gets a clear C-STORE status, not a bare
        # rejection); the image classes in every transfer syntax the readers decode (X-ray units
        # and digitisers often send JPEG or JPEG 2000).
        for context in AllStoragePresentationContexts:
            syntaxes = ALL_TRANSFER_SYNTAXES if context.abstract_syntax in IMAGE_SOP_CLASSES else context.transfer_syntax
            self.ae.add_supported_context(context.abstract_syntax, syntaxes)
        self.ae.add_supported_context(Verification)
        # pynetdicom refuses the association itself when the calling AE title is not listed, or
        # when the called AE title is not this receiver's.
        self.ae.require_calling_aet = config.allowed_calling
        self.ae.require_called_aet = True
        self.ae.acse_timeout = CONNECT_TIMEOUT
        self.ae.network_timeout = NETWORK_TIMEOUT
        self.ae.dimse_timeout = NETWORK_TIMEOUT
        self.ae.maximum_associations = MAX_ASSOCIATIONS
        self.server = None
        self.received: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()  # connections open per peer address
        self._refusals_audited: dict[str, float] = {}

    def start(self) -> int:
        handlers = [
            (evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, lambda event: SUCCESS), (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_released), (evt.EVT_REJECTED, self._on_rejected), (evt.EVT_CONN_CLOSE, self._on_closed),
        ]
        self.server = self.ae.start_server((self.config.host, self.config.port), block=False, evt_handlers=handlers)
        # socketserver asks verify_request before it starts a thread for a new connection.
        self.server.verify_request = self._admit
        port = self.server.server_address[1]
        log.info("DICOM receiver %s listening on %s:%s (calling AE titles allowed: %s)", self.config.ae_title, self.config.host, port, ", ".join(self.config.allowed_calling) or "none")
        return port

    def stop(self) -> None:
        """Stop listening and abort associations still open, so the app can exit."""
        self.ae.shutdown()
        self.server = None

    def _admit(self, request, client_address) -> bool:  # noqa: ANN001
        """A new TCP connection: admitted unless this peer already holds its share."""
        peer = str(client_address[0])
        with self._lock:
            if self._open[peer] >= PER_PEER_CONNECTIONS:
                refused = True
            else:
                self._open[peer] += 1
                refused = False
        if refused:
            self._audit_refusal(peer, f"DICOM connection from {peer} refused: it already holds {PER_PEER_CONNECTIONS} open connections")
        return not refused

    def _on_closed(self, event) -> None:  # noqa: ANN001
        peer = str(event.address[0])
        with self._lock:
            if self._open[peer] > 0:
                self._open[peer] -= 1
            if self._open[peer] == 0:
                del self._open[peer]

    def _on_rejected(self, event) -> None:  # noqa: ANN001
        requestor = event.assoc.requestor
        calling, called = requestor.ae_title, event.assoc.acceptor.ae_title
        asked_for = getattr(requestor, "primitive", None)
        called_asked = getattr(asked_for, "called_ae_title", called) if asked_for is not None else called
        self._audit_refusal(
            f"{requestor.address}|{calling}",
            f"DICOM association from {calling} ({requestor.address}) to {called_asked} rejected "
            f"(allowed calling AE titles: {', '.join(self.config.allowed_calling)}; this receiver is {self.config.ae_title})",
        )

    def _audit_refusal(self, key: str, text: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._refusals_audited.get(key, -AUDIT_REFUSALS_EVERY) < AUDIT_REFUSALS_EVERY:
                return
            self._refusals_audited[key] = now
        log.warning("%s", text)
        close_old_connections()
        try:
            from app.audit import trail as audit

            audit.record(None, audit.REFUSED, None, text)
        except Exception:  # the audit must never take the receiver down
            log.exception("Could not audit a refused DICOM connection")
        finally:
            close_old_connections()

    def _key(self, event) -> str:  # noqa: ANN001
        return f"{id(event.assoc)}"

    def _on_store(self, event) -> int:  # noqa: ANN001
        close_old_connections()
        try:
            calling = event.assoc.requestor.ae_title
            address = event.assoc.requestor.address
            try:
                dataset = event.dataset
                dataset.file_meta = event.file_meta
            except Exception as exc:  # undecodable: refuse, keep listening
                status, note = CANNOT_UNDERSTAND, f"the dataset cannot be decoded ({exc.__class__.__name__})"
            else:
                status, note = store(dataset, calling, address)
            with self._lock:
                self.received.setdefault(self._key(event), []).append(f"{status:#06x} {note}")
            return status
        finally:
            close_old_connections()

    def _on_released(self, event) -> None:  # noqa: ANN001
        with self._lock:
            notes = self.received.pop(self._key(event), [])
        if not notes:
            return
        close_old_connections()
        try:
            from app.audit import trail as audit

            stored = sum(1 for n in notes if n.startswith("0x0000"))
            audit.record(
                None, audit.CREATED, None,
                f"DICOM association from {event.assoc.requestor.ae_title} ({event.assoc.requestor.address}): {stored} of {len(notes)} images accepted",
                images=notes[:200],
            )
        finally:
            close_old_connections()


# What this process's receiver is doing, for the administrator's home page: "listening" with the
# port and AE title, or "off" with the reason. Empty where no receiver was started in this process
# (the page then says it cannot tell, as with workers in separate processes).
STATE: dict[str, object] = {}
_current: Receiver | None = None
_current_lock = threading.Lock()


def restart() -> dict[str, object]:
    """Stop this process's receiver, if any, and start it again with the settings as they are now
    (the administrator's "Restart the DICOM receiver"); returns the new STATE."""
    with _current_lock:
        stop_current()
        start_if_configured()
    return dict(STATE)


def stop_current() -> None:
    """Stop the receiver this process started (the launcher's shutdown, and restart)."""
    global _current
    if _current is not None:
        _current.stop()
        _current = None
        STATE.update(state="off", reason="stopped")


def start_if_configured() -> Receiver | None:
    """Start the receiver if it is configured; a receiver that cannot start (port taken, bad
    settings) is logged and left off: it must not keep the rest of the workstation from starting."""
    config = configured()
    if config is None:
        STATE.update(state="off", reason="no DICOM port is set in Settings", port=None)
        return None
    if not config.allowed_calling:
        log.warning("DICOM receiver not started: no calling AE title is allowed (Clinic settings)")
        STATE.update(state="off", reason="no X-ray unit (calling AE title) is allowed in Settings", port=config.port)
        return None
    try:
        receiver = Receiver(config)
        port = receiver.start()
    except Exception as exc:
        log.exception("The DICOM receiver could not start on port %s", config.port)
        STATE.update(state="off", reason=f"it could not start on port {config.port} ({exc.__class__.__name__}: {exc})", port=config.port)
        return None
    STATE.update(state="listening", reason="", port=port, ae_title=config.ae_title, host=config.host)
    global _current
    _current = receiver
    return receiver
