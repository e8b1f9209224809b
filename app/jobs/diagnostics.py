"""Diagnostic job kinds, registered only when CXR_ENABLE_DIAGNOSTIC_JOBS=1.

They exercise the queue end to end without a model pack: the crash-recovery tests kill the
launcher while `diagnostics.sleep` runs and check that it completes exactly once afterwards.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from app.jobs.registry import register
from app.jobs.worker import JobContext, JobError

STEP_SECONDS = 0.1


@register("diagnostics.sleep")
def sleep_job(ctx: JobContext) -> dict[str, Any]:
    """Sleep in small steps, reporting progress; on completion append one line to `marker`."""
    seconds = float(ctx.payload.get("seconds", 1.0))
    steps = max(1, int(seconds / STEP_SECONDS))
    for step in range(steps):
        ctx.progress(step / steps, f"Step {step + 1} of {steps}")
        time.sleep(STEP_SECONDS)
    marker = ctx.payload.get("marker")
    if marker:
        with Path(marker).open("a", encoding="utf-8") as handle:
            handle.write(f"job {ctx.job.id} completed by pid {os.getpid()}\n")
    return {"slept": seconds, "steps": steps}


@register("diagnostics.fail")
def fail_job(ctx: JobContext) -> None:
    raise JobError(str(ctx.payload.get("message", "Diagnostic failure")))
