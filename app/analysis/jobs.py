"""Job kinds that run the inference engine inside the worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from app.analysis.engine_service import get_engine
from app.jobs.registry import register
from app.jobs.worker import JobContext, JobError

ANALYSE_FILE = "analysis.analyse_file"


def run_engine(ctx: JobContext, path: Path, folder: Path, heatmap: bool = True, override_gate: bool = False, pack: dict[str, str] | None = None) -> dict[str, Any]:
    """Analyse one file and save its images into `folder`.

    Returns {"status": "analysed", ...engine result, "images": {...}} or, for a quality-gate
    refusal, {"status": "refused", "reason", "code", ...}: a refusal is a result shown to the user,
    not a failure. Unreadable files and missing packs raise JobError with the readable reason.
    `pack` ({"name", "version"}): an installed pack other than the active one (a comparison).
    """
    from app.analysis.result import SCHEMA_VERSION
    from app.inference.errors import InputError, ModelPackError, QualityGateRefusal
    from app.inference.quality_gate import OVERRIDABLE_REFUSALS, REFUSAL_ADVICE

    try:
        engine = get_engine(pack)
    except ModelPackError as exc:
        raise JobError(f"No model pack is available: {exc}") from exc
    from app.analysis.site_calibration.profiles import active_profile

    # The clinic's calibration of this pack, if an administrator activated one; read before each
    # analysis, so an activation or rollback applies from the next film on.
    site_profile = active_profile(engine.pack.name, engine.pack.version)
    try:
        analysis = engine.analyse(path, heatmap=heatmap, progress=ctx.progress, override_gate=override_gate, site_profile=site_profile)
    except QualityGateRefusal as exc:
        return {
            "schema_version": SCHEMA_VERSION,
            "status": "refused",
            "reason": str(exc),
            "code": exc.code,
            "overridable": exc.code in OVERRIDABLE_REFUSALS,
            "advice": REFUSAL_ADVICE.get(exc.code, ""),
            "details": exc.details,
            "pack": {"name": engine.pack.name, "version": engine.pack.version, "validated": engine.pack.validated},
        }
    except InputError as exc:
        raise JobError(str(exc)) from exc
    ctx.progress(0.97, "Saving images")
    images = analysis.save_images(folder, stem="analysis")
    # Named relative to the data directory, so a backup restored into another folder finds them.
    root = settings.DATA_DIR.root.resolve()
    named = {k: (v.resolve().relative_to(root).as_posix() if root in v.resolve().parents else str(v)) for k, v in images.items()}
    return {"schema_version": SCHEMA_VERSION, "status": "analysed", **analysis.result, "images": named}


@register(ANALYSE_FILE)
def analyse_file(ctx: JobContext) -> dict[str, Any]:
    """payload: {"path": file to analyse, "heatmap": bool (default true)}."""
    folder = settings.DATA_DIR.derived / f"job-{ctx.job.id}"
    return run_engine(ctx, Path(ctx.payload["path"]), folder, ctx.payload.get("heatmap", True))
