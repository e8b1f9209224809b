"""Model packs from the administrator's page: list, import (a worker job), activate, roll back.

Importing runs in the worker because the pack's test inference needs the inference libraries;
activating only records the choice (pack_registry.set_active), which every worker reads before
its next analysis (engine_service.get_engine), so no job is interrupted or mixed. The inference
modules (torch) are imported inside the functions: a web-only process pays for them only when an
administrator opens the packs page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from app.clinical.models import Analysis
from app.inference.errors import ModelPackError
from app.platform.install_dir import BUNDLED_MODELS_DIR
from app.jobs import queue
from app.jobs.models import Job, Priority
from app.jobs.registry import register
from app.jobs.worker import JobContext, JobError

if TYPE_CHECKING:
    from app.inference.packs.manifest import ModelPack

IMPORT_PACK = "analysis.import_pack"


@dataclass
class InstalledPack:
    pack: ModelPack
    active: bool
    bundled: bool
    installed_at: datetime
    studies: int

    @property
    def key(self) -> str:
        return f"{self.pack.name}@{self.pack.version}"


def active_pack() -> ModelPack | None:
    from app.inference.packs import registry as pack_registry

    try:
        return pack_registry.select_active(settings.DATA_DIR.model_packs, settings.MODEL_PACK or None)
    except ModelPackError:
        return None


def installed_packs() -> tuple[list[InstalledPack], list[str]]:
    from app.inference.packs import registry as pack_registry

    packs, problems = pack_registry.installed(settings.DATA_DIR.model_packs)
    active = active_pack()
    rows = []
    for pack in packs:
        rows.append(
            InstalledPack(
                pack=pack,
                active=active is not None and (pack.name, pack.version, pack.root) == (active.name, active.version, active.root),
                bundled=BUNDLED_MODELS_DIR in pack.root.parents,
                installed_at=datetime.fromtimestamp((pack.root / "manifest.json").stat().st_mtime, tz=timezone.get_current_timezone()),
                studies=Analysis.objects.filter(pack_name=pack.name, pack_version=pack.version).values("study").distinct().count(),
            )
        )
    return rows, problems


def installed_pack_models() -> list[ModelPack]:
    from app.inference.packs import registry as pack_registry

    return pack_registry.installed(settings.DATA_DIR.model_packs)[0]


def previous_choice() -> dict[str, str] | None:
    from app.inference.packs import registry as pack_registry

    choice = pack_registry.active_choice(settings.DATA_DIR.model_packs) or {}
    previous = choice.get("previous")
    return previous if isinstance(previous, dict) and "name" in previous else None


def activate(name: str, version: str) -> tuple[ModelPack, ModelPack | None]:
    """Make an installed pack the active one, after checking every weight file's sha256.
    Returns (new, replaced). Raises ModelPackError with the reason."""
    from app.inference.packs import registry as pack_registry
    from app.inference.packs.manifest import verify

    if settings.MODEL_PACK:
        raise ModelPackError(f"this computer fixes the model pack with CXR_MODEL_PACK={settings.MODEL_PACK}; remove it to choose here")
    pack = pack_registry.find(settings.DATA_DIR.model_packs, name, version)
    verify(pack)
    replaced = active_pack()
    pack_registry.set_active(settings.DATA_DIR.model_packs, pack, previous=replaced)
    return pack, replaced


def queue_import(source: Path, *, activate_after: bool) -> Job:
    return queue.enqueue(IMPORT_PACK, {"source": str(source), "activate": activate_after}, priority=Priority.URGENT)


def import_jobs() -> list[Job]:
    return list(Job.objects.filter(kind=IMPORT_PACK).order_by("-id")[:5])


@register(IMPORT_PACK)
def run_import_pack(ctx: JobContext) -> dict[str, Any]:
    from app.inference.packs import registry as pack_registry
    from app.inference.packs.install import import_pack

    source = Path(ctx.payload["source"])
    ctx.progress(0.05, "Unpacking and checking every file's checksum")
    started = time.perf_counter()
    replaced = active_pack()
    try:
        pack = import_pack(source, settings.DATA_DIR.model_packs, activate=False)
    except ModelPackError as exc:
        raise JobError(f"The pack was not installed: {exc}") from exc
    finally:
        if ctx.payload.get("uploaded"):
            source.unlink(missing_ok=True)
    ctx.progress(0.9, "Installed; test inference passed")
    if ctx.payload.get("activate"):
        pack_registry.set_active(settings.DATA_DIR.model_packs, pack, previous=replaced)
    return {"name": pack.name, "version": pack.version, "activated": bool(ctx.payload.get("activate")), "seconds": round(time.perf_counter() - started, 1)}
