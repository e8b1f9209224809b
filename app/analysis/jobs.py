"""Job kinds that run the inference engine inside the worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from app.analysis.engine_service import get_engine
from app.jobs.registry import register
from app.jobs.worker import JobContext, JobError

ANALYSE_FILE = "analysis.analyse_file"


@register(ANALYSE_FILE)
def analyse_file(ctx: JobContext) -> dict[str, Any]:
    """payload: {"path": file to analyse, "heatmap": bool (default true)}.

    Returns the engine's result plus the paths of the derived images. A quality-gate refusal is
    a *successful* job with status "refused": the user sees the reason, not an error.
    """
    from app.inference.errors import InputError, ModelPackError, QualityGateRefusal

    path = Path(ctx.payload["path"])
    try:
        engine = get_engine()
    except ModelPackError as exc:
        raise JobError(f"No model pack is available: {exc}") from exc
    try:
        analysis = engine.analyse(path, heatmap=ctx.payload.get("heatmap", True), progress=ctx.progress)
    except QualityGateRefusal as exc:
        return {"status": "refused", "reason": str(exc), "code": exc.code, "details": exc.details, "pack": engine.pack.summary()}
    except InputError as exc:
        raise JobError(str(exc)) from exc
    ctx.progress(0.97, "Saving images")
    folder = settings.DATA_DIR.derived / f"job-{ctx.job.id}"
    images = analysis.save_images(folder, stem="analysis")
    return {"status": "analysed", **analysis.result, "images": {k: str(v) for k, v in images.items()}}
