"""The worker process's one inference engine: loaded once, shared by every analysis job.

torch is imported lazily, inside these functions, so the web server process never pays for it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from app.inference.engine import Engine

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engine: Engine | None = None
# One more engine, for comparisons with another installed pack; one slot bounds the memory.
_other: Engine | None = None


def _chosen() -> tuple[str, str] | None:
    """The pack an administrator made active (name, version), if any; None: the default."""
    from app.inference.packs.registry import active_choice

    if settings.MODEL_PACK:  # fixed by the environment: no switching
        return None
    choice = active_choice(settings.DATA_DIR.model_packs)
    return (choice["name"], str(choice.get("version", ""))) if choice else None


def get_engine(pack: dict[str, str] | None = None) -> Engine:
    """The loaded engine; raises ModelPackError (readable) when no usable pack is installed.

    Called before every analysis: if an administrator activated another pack since the engine was
    loaded (a small JSON file, read each time), the new pack is loaded now, between two jobs, so
    no job mixes packs; each result records the pack that produced it."""
    global _engine
    with _lock:
        if pack is not None:
            return _comparison_engine(pack["name"], pack["version"])
        chosen = _chosen()
        if _engine is not None and chosen is not None and chosen != (_engine.pack.name, _engine.pack.version):
            log.info("The active model pack changed to %s %s; switching from %s", *chosen, _engine.pack.label)
            _engine = None
        if _engine is None:
            from app.inference.engine import Engine
            from app.inference.packs.registry import select_active

            pack = select_active(settings.DATA_DIR.model_packs, settings.MODEL_PACK or None)
            log.info("Loading model pack %s from %s", pack.label, pack.root)
            _engine = Engine.for_pack(pack, memory_budget_mb=settings.GPU_MEMORY_BUDGET_MB, backend=settings.INFERENCE_BACKEND)
            log.info("Model pack %s ready on %s", pack.label, _engine.device_name)
        return _engine


def _comparison_engine(name: str, version: str) -> Engine:
    """The engine of another installed pack (the active one is reused if asked for); called with
    the lock held."""
    global _other
    from app.inference.engine import Engine
    from app.inference.packs.registry import find

    for loaded in (_engine, _other):
        if loaded is not None and (loaded.pack.name, loaded.pack.version) == (name, version):
            return loaded
    pack = find(settings.DATA_DIR.model_packs, name, version)
    log.info("Loading model pack %s for a comparison", pack.label)
    _other = None  # free the previous comparison engine before loading the next
    _other = Engine.for_pack(pack, memory_budget_mb=settings.GPU_MEMORY_BUDGET_MB, backend=settings.INFERENCE_BACKEND)
    return _other


def reset() -> None:
    """Forget the engines (after the active pack changed); the next job loads the new one."""
    global _engine, _other
    with _lock:
        _engine = None
        _other = None


def warm_up() -> dict[str, Any]:
    from app.inference.errors import ModelPackError

    try:
        return get_engine().status()
    except ModelPackError as exc:
        log.error("No model pack loaded: %s", exc)
        from app.inference.engine import default_device_name

        return {"device": default_device_name(), "model_pack": {"loaded": False, "reason": str(exc)}}
    except Exception as exc:  # a broken installation must show up in /health, not only in the log
        log.exception("The inference engine could not start")
        return {"device": "unknown", "model_pack": {"loaded": False, "reason": f"the inference engine could not start: {exc}"}}
