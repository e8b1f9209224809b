"""The analysis of a stored study, as a job: engine result copied into the Analysis row."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from app.analysis.jobs import run_engine
from app.analysis.result import AnalysisResult
from app.clinical.intake import ANALYSE_STUDY
from app.clinical.models import Analysis, AnalysisStatus, Study, refresh_worklist_priority
from app.jobs.registry import register, register_failure_hook
from app.jobs.worker import JobCancelled, JobContext, JobError


@register_failure_hook(ANALYSE_STUDY)
def analysis_failed(job_id: int, payload: dict[str, Any], error: str) -> None:
    """The job died where the handler could not say so: the study shows "failed" and a Retry."""
    Analysis.objects.filter(id=payload.get("analysis_id"), status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]).update(
        status=AnalysisStatus.FAILED, message=error, finished_at=timezone.now()
    )


@register(ANALYSE_STUDY)
def analyse_study(ctx: JobContext) -> dict[str, Any]:
    analysis = Analysis.objects.select_related("study", "gate_override_by").get(id=ctx.payload["analysis_id"])
    Analysis.objects.filter(id=analysis.id).update(status=AnalysisStatus.RUNNING)
    folder = settings.DATA_DIR.derived / f"study-{analysis.study_id}" / f"analysis-{analysis.id}"
    try:
        result = run_engine(ctx, analysis.study.path, folder, override_gate=bool(ctx.payload.get("override_gate")), pack=ctx.payload.get("pack"))
    except JobCancelled:
        Analysis.objects.filter(id=analysis.id).update(status=AnalysisStatus.CANCELLED, finished_at=timezone.now())
        raise
    except JobError as exc:
        Analysis.objects.filter(id=analysis.id).update(status=AnalysisStatus.FAILED, message=str(exc), finished_at=timezone.now())
        raise
    if analysis.gate_overridden:
        result["gate_override"] = {
            "reason": analysis.gate_override_reason,
            "by": analysis.gate_override_by.get_username() if analysis.gate_override_by else "",
            "at": analysis.gate_override_at.isoformat(),
        }
    outcome = AnalysisResult.from_stored(result)
    fields: dict[str, Any] = {"result": result, "finished_at": timezone.now(), "pack_name": outcome.pack.name, "pack_version": outcome.pack.version, "demonstration": not outcome.pack.validated}
    if not outcome.analysed:
        fields.update(status=AnalysisStatus.REFUSED, message=outcome.refusal_reason)
    else:
        consensus = outcome.consensus
        fields.update(
            status=AnalysisStatus.ANALYSED,
            finding=consensus.finding,
            confidence=consensus.confidence,
            agreement=consensus.agreement,
            members=consensus.members,
            needs_review=consensus.needs_review,
            # The pack's manifest says which findings are normal (engine.analyse_image).
            positive=consensus.positive,
            device=outcome.device,
            seconds=outcome.total_seconds,
        )
    with transaction.atomic():
        Analysis.objects.filter(id=analysis.id).update(**fields)
        refresh_worklist_priority(Study.objects.filter(latest_analysis_id=analysis.id))
        if fields["status"] == AnalysisStatus.ANALYSED and not analysis.compared_pack:
            _send_if_automatic(analysis.study)
    return {"analysis_id": analysis.id, "status": outcome.status}


def _send_if_automatic(study) -> None:  # noqa: ANN001
    from app.dicom import send as dicom_send
    from app.core.models import ClinicSettings

    clinic = ClinicSettings.current()
    if clinic and clinic.pacs_send_automatically and dicom_send.destination():
        dicom_send.queue_send(study)
