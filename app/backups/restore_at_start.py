"""Restore from a backup, chosen in the app and carried out at the next start of the app.

A running app cannot swap its own database underneath itself, so the administrator's choice is
written down (`restore-pending.json` in the data directory, after the archive was verified) and
the launcher carries it out when the app next starts, before Django opens the database:

    1. the archive is verified again and restored into a new, empty folder beside the data
       directory (nothing is touched if that fails: the app starts as it was, and says why);
    2. everything in the data directory except the launcher's lock and the logs moves to a safety
       copy beside it (`<data dir>.before-restore-<time>`): nothing is deleted;
    3. the restored files move in; the app then starts on them (migrating an older database with
       its usual backup first), and the audit log records the restore.

No Django here: the launcher calls it before Django is set up.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from app.backups import archive
from app.platform import datadir

PENDING = "restore-pending.json"
OUTCOME = "restore-outcome.json"
STAY = {"launcher.lock", "logs"}  # the running launcher's lock and its open log files stay put


def request(data: datadir.DataDir, source: Path, requested_by: str) -> dict[str, Any]:
    """Verify the archive now and ask for it to be restored at the next start; returns its manifest."""
    manifest = archive.verify(source)
    note = {"archive": str(source.resolve()), "requested_by": requested_by, "requested_at": datetime.now().isoformat(timespec="seconds"),
            "counts": manifest.get("counts", {})}
    tmp = data.root / (PENDING + ".tmp")
    tmp.write_text(json.dumps(note), encoding="utf-8")
    tmp.replace(data.root / PENDING)
    return manifest


def pending(data: datadir.DataDir) -> dict[str, Any] | None:
    path = data.root / PENDING
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def cancel(data: datadir.DataDir) -> bool:
    path = data.root / PENDING
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return existed


def carry_out(data: datadir.DataDir) -> dict[str, Any] | None:
    """Called by the launcher, holding the single-instance lock, before Django starts."""
    note = pending(data)
    if note is None:
        return None
    root = data.root
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    fresh = root.parent / f".{root.name}.restored-{stamp}"
    outcome: dict[str, Any] = {**note, "at": datetime.now().isoformat(timespec="seconds")}
    try:
        archive.restore(Path(note["archive"]), fresh)
    except (archive.BackupError, OSError) as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        (root / PENDING).unlink(missing_ok=True)
        outcome |= {"ok": False, "error": str(exc)}
        (root / OUTCOME).write_text(json.dumps(outcome), encoding="utf-8")
        return outcome
    safety = root.parent / f"{root.name}.before-restore-{stamp}"
    safety.mkdir()
    for child in list(root.iterdir()):
        if child.name not in STAY:
            os.replace(child, safety / child.name)
    for child in list(fresh.iterdir()):
        if child.name not in STAY:
            os.replace(child, root / child.name)
    shutil.rmtree(fresh, ignore_errors=True)
    (safety / PENDING).unlink(missing_ok=True)
    data.prepare()
    outcome |= {"ok": True, "safety_copy": str(safety)}
    (root / OUTCOME).write_text(json.dumps(outcome), encoding="utf-8")
    return outcome


def take_outcome(data: datadir.DataDir) -> dict[str, Any] | None:
    """The last restore's outcome, once (the app audits it and tells the administrator)."""
    path = data.root / OUTCOME
    if not path.is_file():
        return None
    outcome = json.loads(path.read_text(encoding="utf-8"))
    path.unlink(missing_ok=True)
    return outcome


def audit_outcome(data: datadir.DataDir) -> dict[str, Any] | None:
    """Once Django is up: the restore carried out at this start goes into the audit log."""
    from app.audit import trail as audit

    outcome = take_outcome(data)
    if outcome is None:
        return None
    name = Path(str(outcome.get("archive", ""))).name
    if outcome.get("ok"):
        summary = (f"Data restored from {name} at the start of the app (asked by {outcome.get('requested_by')}); "
                   f"the data from before is kept in {Path(str(outcome.get('safety_copy'))).name}")
    else:
        summary = f"Restore from {name} refused at the start of the app: {outcome.get('error')}"
    audit.record(None, audit.RESTORED, None, summary, **{k: str(v) for k, v in outcome.items()})
    return outcome
