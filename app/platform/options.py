"""Every CXR_* environment variable in one table: its name, type, default and what it does.

settings.py reads them through `read()`, which refuses a malformed value with the variable's name
instead of guessing (CXR_DISK_RESERVE_MB=lots stops the start with a clear message).
`python -m app.platform.options` prints the table; README's "Options" section is that table. No Django here:
the launcher and the data-directory code read options before Django is imported.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class OptionError(ValueError):
    """A CXR_* variable holds a value of the wrong kind."""


@dataclass(frozen=True)
class Option:
    name: str
    kind: type  # str, int or bool
    default: Any
    help: str
    choices: tuple[str, ...] = ()  # for str options with a fixed set of values


OPTIONS: tuple[Option, ...] = (
    Option("CXR_DATA_DIR", str, "", "the data directory (database, images, logs, backups, secret key); default: the platform's per-user data folder"),
    Option("CXR_DEBUG", bool, False, "Django's DEBUG pages; never in clinical use"),
    Option("CXR_DATABASE_URL", str, "", "e.g. postgres://user:pass@host/db for a site with several workstations; default: SQLite in the data directory"),
    Option("CXR_INPROCESS_WORKER", bool, True, "0 when jobs run in separate `manage.py runworker` processes"),
    Option("CXR_WORKER_STALE_SECONDS", int, 60, "a worker silent this long is considered dead"),
    Option("CXR_GPU_MEMORY_BUDGET_MB", int, 6144, "GPU memory the ensemble may keep resident"),
    Option("CXR_INFERENCE_BACKEND", str, "auto", "auto: torch on a GPU, ONNX Runtime on the CPU when the pack has ONNX exports; torch or onnx to force one", ("auto", "torch", "onnx")),
    Option("CXR_MODEL_PACK", str, "", "name of the pack to use, fixed (the Model packs page then cannot switch); default: the administrator's choice, else the newest bundled pack"),
    Option("CXR_ENABLE_DIAGNOSTIC_JOBS", bool, False, "registers the diagnostics.* job kinds (tests)"),
    Option("CXR_SESSION_IDLE_SECONDS", int, 0, "idle log-out after this many seconds, overriding the administrator's setting (tests, kiosks); 0: the setting"),
    Option("CXR_DISK_RESERVE_MB", int, 200, "images stop being stored while this much disk is still free, so the database can record what happened"),
    Option("CXR_DICOM_PORT", int, 0, "the DICOM receiver's port, overriding Clinic settings; 0: the setting (empty there: no receiver)"),
    Option("CXR_DICOM_AE_TITLE", str, "", "the DICOM receiver's AE title, overriding Clinic settings"),
    Option("CXR_FAULT_POINT", str, "", "tests only: stop the process at a named point (app/platform/faults.py)"),
    Option("CXR_FAULT_MARKER", str, "", "tests only: the file written when the fault point is reached"),
)
BY_NAME = {option.name: option for option in OPTIONS}


def read(name: str, environ: dict[str, str] | None = None) -> Any:
    """The option's value from the environment, typed, or its default when unset or empty."""
    option = BY_NAME[name]
    raw = (environ if environ is not None else os.environ).get(name, "").strip()
    if raw == "":
        return option.default
    if option.kind is bool:
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise OptionError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {raw!r}")
    if option.kind is int:
        try:
            return int(raw)
        except ValueError:
            raise OptionError(f"{name} must be a whole number, not {raw!r}") from None
    if option.choices and raw not in option.choices:
        raise OptionError(f"{name} must be one of {', '.join(option.choices)}, not {raw!r}")
    return raw


def table() -> str:
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for option in OPTIONS:
        default = {True: "1", False: "0"}.get(option.default, option.default) if option.kind is bool else option.default
        rows.append(f"| `{option.name}` | {f'`{default}`' if default not in ('', None) else '(unset)'} | {option.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
