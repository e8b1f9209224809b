"""Named places where a fault-injection test stops the process, to prove a crash there loses nothing.

Inactive unless the environment variable CXR_FAULT_POINT names the point ("backup-archive") or the
point and which visit of it ("import-stored:3"): the process then writes the file named by
CXR_FAULT_MARKER and waits there until the test kills it (tests/test_faults.py). An installed app
never has these variables set, and an unset variable costs one dictionary lookup.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_visits: dict[str, int] = {}
_lock = threading.Lock()


def point(name: str) -> None:
    wanted = os.environ.get("CXR_FAULT_POINT")
    if not wanted:
        return
    target, _, nth = wanted.partition(":")
    if target != name:
        return
    with _lock:
        _visits[name] = _visits.get(name, 0) + 1
        visit = _visits[name]
    if visit != int(nth or 1):
        return
    marker = os.environ.get("CXR_FAULT_MARKER")
    if marker:
        Path(marker).write_text(f"{name} visit {visit}\n", encoding="utf-8")
    while True:  # the test kills the process here
        time.sleep(1)


def during_sql(name: str, statement_prefix: str):  # noqa: ANN201 (a context manager)
    """A point visited before each SQL statement that starts with `statement_prefix` (inside the
    transaction of what is running); a no-op context unless a fault-injection test asks for it."""
    import contextlib

    if not os.environ.get("CXR_FAULT_POINT", "").startswith(name):
        return contextlib.nullcontext()
    from django.db import connection

    def wrapper(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        if sql.lstrip().startswith(statement_prefix):
            point(name)
        return execute(sql, params, many, context)

    return connection.execute_wrapper(wrapper)
