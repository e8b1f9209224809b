"""What a killed process leaves behind, removed at start-up while nothing else can be writing.

Called by initialize() on a single workstation only: the launcher then holds the instance lock,
so no upload, analysis or backup is in flight and anything half-written is garbage:

- `.incoming-*` uploads in originals/ that never became a study (killed mid-upload);
- stored originals no study row names (killed between moving the file and committing the row);
- derived images of studies or analyses that no longer exist, and `*.tmp` files there;
- `cxr-backup-*` scratch folders of a backup that was killed, unfinished pre-migration copies,
  and `*.partial` archives in the backup folder (a partial archive never looks complete: only verified archives are renamed);
- staging folders of model-pack imports that were killed (`model_packs/.staging-*`);
- half-written secret key files;
- heartbeat rows of workers that are gone (the worker starts after this).

Every removal is counted and logged; nothing outside the data directory and the configured backup
folder is touched, and only names this app creates are matched.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

DERIVED_STUDY = re.compile(r"^study-(\d+)$")
DERIVED_ANALYSIS = re.compile(r"^analysis-(\d+)$")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_leftovers() -> dict[str, int]:
    from app.clinical.models import Analysis, Study
    from app.core.models import ClinicSettings
    from app.jobs.models import WorkerHeartbeat

    data = settings.DATA_DIR
    removed: dict[str, int] = {}

    def drop(kind: str, paths: list[Path]) -> None:
        for path in paths:
            _remove(path)
        if paths:
            removed[kind] = len(paths)
            log.warning("Removed %d %s left by an unexpected stop", len(paths), kind)

    originals = [p for p in data.originals.iterdir()] if data.originals.is_dir() else []
    drop("unfinished uploads", [p for p in originals if p.name.startswith(".incoming-")])
    known = set(Study.objects.values_list("stored_name", flat=True))
    drop("stored files without a study", [p for p in originals if p.is_file() and not p.name.startswith(".") and p.name not in known])

    studies = set(Study.objects.values_list("id", flat=True))
    analyses = set(Analysis.objects.values_list("id", flat=True))
    orphan_derived: list[Path] = []
    if data.derived.is_dir():
        for folder in data.derived.iterdir():
            match = DERIVED_STUDY.match(folder.name)
            if not match:
                continue  # job-N folders of file analyses belong to their jobs
            if int(match.group(1)) not in studies:
                orphan_derived.append(folder)
                continue
            orphan_derived += [sub for sub in folder.iterdir() if (m := DERIVED_ANALYSIS.match(sub.name)) and int(m.group(1)) not in analyses]
        orphan_derived += list(data.derived.rglob("*.tmp"))
    drop("derived images without a study or analysis", orphan_derived)

    # Directories only: finished archives share the prefix, and an administrator may point the
    # backup folder at backups/ itself.
    packs = data.model_packs
    drop("staging folders of interrupted pack imports", [p for p in packs.glob(".staging-*") if p.is_dir() and not p.is_symlink()] if packs.is_dir() else [])
    drop("scratch folders of interrupted backups", [p for p in data.backups.glob("cxr-backup-*") if p.is_dir()] if data.backups.is_dir() else [])
    drop("unfinished pre-migration copies", list(data.backups.glob("pre-migration-*.partial")) if data.backups.is_dir() else [])
    clinic = ClinicSettings.current()
    if clinic and clinic.backup_folder and Path(clinic.backup_folder).is_dir():
        from app.backups import archive as backup

        drop("partial backup archives", list(Path(clinic.backup_folder).glob(f"{backup.PREFIX}*.partial")))
    drop("half-written secret key files", list(data.root.glob(f".{data.secret_key_file.name}.*")))

    stale_workers, _ = WorkerHeartbeat.objects.all().delete()
    if stale_workers:
        removed["worker rows of stopped workers"] = stale_workers
    return removed
