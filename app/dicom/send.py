"""Send a study's AI result (DICOM SC + SR) to the clinic's PACS by C-STORE, as a job.

Queued by hand from the study page, or after each analysis when the administrator turns automatic
sending on. A PACS that does not answer is tried again a few times within the job (a busy PACS or a
switch restarting); after that the job fails with the reason and the study page offers to send
again. Every sending is in the audit log.
"""

from __future__ import annotations

import time
from typing import Any

from pynetdicom import AE
from pynetdicom.sop_class import ComprehensiveSRStorage, SecondaryCaptureImageStorage

from app.audit import trail as audit

from app.dicom import results as dicom_results
from app.clinical.models import Study
from app.core.models import ClinicSettings
from app.jobs import queue
from app.jobs.models import Job, Priority
from app.jobs.registry import register
from app.jobs.worker import JobContext, JobError

SEND_RESULT = "clinical.send_result"
# Waits before the 2nd and 3rd tries: short, because the worker analyses nothing meanwhile.
RETRY_WAITS = (2.0, 8.0)
TIMEOUT_SECONDS = 30


def destination() -> tuple[str, int, str] | None:
    clinic = ClinicSettings.current()
    if not clinic or not clinic.pacs_host or not clinic.pacs_port or not clinic.pacs_ae_title:
        return None
    return clinic.pacs_host, clinic.pacs_port, clinic.pacs_ae_title


def queue_send(study: Study) -> Job:
    return queue.enqueue(SEND_RESULT, {"study_id": study.pk}, priority=Priority.NORMAL)


def latest_send(study: Study) -> Job | None:
    return Job.objects.filter(kind=SEND_RESULT, payload__study_id=study.pk).order_by("-id").first()


def _send_once(host: str, port: int, called: str, calling: str, datasets: list) -> list[str]:  # noqa: ANN001
    ae = AE(ae_title=calling)
    ae.add_requested_context(SecondaryCaptureImageStorage)
    ae.add_requested_context(ComprehensiveSRStorage)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_SECONDS
    assoc = ae.associate(host, port, ae_title=called)
    if not assoc.is_established:
        raise ConnectionError(f"the PACS {called} at {host}:{port} did not accept the association")
    try:
        statuses = []
        for dataset in datasets:
            answer = assoc.send_c_store(dataset)
            status = getattr(answer, "Status", None)
            if status is None:
                raise ConnectionError("the PACS did not answer the C-STORE")
            if status not in (0x0000, 0xB000, 0xB006, 0xB007):  # success or warnings
                raise JobError(f"the PACS refused {dataset.SOPClassUID.name} with status {status:#06x}")
            statuses.append(f"{dataset.SOPClassUID.name}: {status:#06x}")
        return statuses
    finally:
        assoc.release()


ECHO_TIMEOUT_SECONDS = 5


def echo() -> str:
    """C-ECHO the configured PACS now (the administrator's Test connection); raises ConnectionError
    with the reason, else returns what answered."""
    from pynetdicom.sop_class import Verification

    target = destination()
    if target is None:
        raise ConnectionError("no PACS is set: give its address, port and AE title")
    host, port, called = target
    clinic = ClinicSettings.current()
    ae = AE(ae_title=(clinic.dicom_ae_title if clinic and clinic.dicom_ae_title else "CXRWS"))
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ECHO_TIMEOUT_SECONDS
    assoc = ae.associate(host, port, ae_title=called)
    if not assoc.is_established:
        raise ConnectionError(f"the PACS {called} at {host}:{port} did not accept an association (wrong address, port or AE title, or our AE title is not known to it)")
    try:
        answer = assoc.send_c_echo()
        status = getattr(answer, "Status", None)
        if status != 0x0000:
            raise ConnectionError(f"the PACS answered the echo with status {status if status is None else f'{status:#06x}'}")
        return f"{called} at {host}:{port}"
    finally:
        assoc.release()


@register(SEND_RESULT)
def send_result(ctx: JobContext) -> dict[str, Any]:
    target = destination()
    if target is None:
        raise JobError("No PACS is set. An administrator sets its address, port and AE title in Settings.")
    host, port, called = target
    study = Study.objects.select_related("latest_analysis", "patient").get(pk=ctx.payload["study_id"])
    try:
        sc = dicom_results.secondary_capture(study, study.latest_analysis) if study.latest_analysis else None
    except dicom_results.NoResult as exc:
        raise JobError(f"Nothing to send: {exc}") from exc
    if sc is None or study.latest_analysis.status != "analysed":
        raise JobError("Nothing to send: the study has no AI finding.")
    datasets = [sc, dicom_results.structured_report(study, study.latest_analysis, sc)]
    clinic = ClinicSettings.current()
    calling = (clinic.dicom_ae_title if clinic else "") or "CXRWS"
    last_error = ""
    for attempt, wait in enumerate((0.0, *RETRY_WAITS), start=1):
        if wait:
            ctx.progress(attempt / 4, f"The PACS did not answer; trying again in {wait:.0f} s")
            time.sleep(wait)
        try:
            statuses = _send_once(host, port, called, calling, datasets)
        except (ConnectionError, OSError, RuntimeError) as exc:
            last_error = str(exc)
            continue
        audit.record(None, audit.EXPORTED, study, f"Study {study.pk} AI result (SC and SR) sent to the PACS {called} at {host}:{port}", statuses=statuses)
        return {"sent": statuses, "attempts": attempt}
    raise JobError(f"The PACS {called} at {host}:{port} could not be reached after {1 + len(RETRY_WAITS)} tries: {last_error}")
