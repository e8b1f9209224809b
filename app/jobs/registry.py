"""Which function runs which kind of job, and what a worker warms up before taking jobs.

Handler modules register themselves at import time (from their AppConfig.ready()), so the same
registry exists in the in-process worker thread and in a separate `manage.py runworker` process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.jobs.worker import JobContext

Handler = Callable[["JobContext"], dict[str, Any] | None]
# Told when a job failed where its handler could not see it: an unexpected error, or a job that
# crashed its worker MAX_ATTEMPTS times. It gets the job's id, payload and error, so the rows the
# job was working for (an analysis, an import) can say "failed" instead of waiting for ever.
FailureHook = Callable[[int, dict[str, Any], str], None]
WarmUp = Callable[[], dict[str, Any]]

_handlers: dict[str, Handler] = {}
_failure_hooks: dict[str, FailureHook] = {}
_warmups: list[WarmUp] = []
_periodic: list[tuple[Callable[[], None], float]] = []


def register(kind: str) -> Callable[[Handler], Handler]:
    def decorator(func: Handler) -> Handler:
        if kind in _handlers and _handlers[kind] is not func:
            raise ValueError(f"Job kind {kind!r} is registered twice")
        _handlers[kind] = func
        return func

    return decorator


def register_failure_hook(kind: str) -> Callable[[FailureHook], FailureHook]:
    def decorator(func: FailureHook) -> FailureHook:
        _failure_hooks[kind] = func
        return func

    return decorator


def failure_hook_for(kind: str) -> FailureHook | None:
    return _failure_hooks.get(kind)


def register_warmup(func: WarmUp) -> WarmUp:
    """A warm-up runs once when a worker starts; the dict it returns goes into /health."""
    if func not in _warmups:
        _warmups.append(func)
    return func


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


def warmups() -> list[WarmUp]:
    return list(_warmups)


def register_periodic(every_seconds: float) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """A check the worker runs between jobs at most every `every_seconds` (e.g. 'is a backup due?').

    It should only enqueue jobs, so the real work has the queue's guarantees.
    """

    def decorator(func: Callable[[], None]) -> Callable[[], None]:
        if all(existing is not func for existing, _ in _periodic):
            _periodic.append((func, every_seconds))
        return func

    return decorator


def periodic() -> list[tuple[Callable[[], None], float]]:
    return list(_periodic)
