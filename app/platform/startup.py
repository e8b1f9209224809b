"""initialize(): everything that must happen once, before the server and worker start."""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from app.platform import faults
from app.platform.datadir import tighten_permissions
from app.jobs import queue

log = logging.getLogger(__name__)

PRE_MIGRATION_BACKUPS_KEPT = 5


def pending_migrations() -> list[str]:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def backup_sqlite(source: Path, destination: Path) -> Path:
    """A consistent copy through SQLite's online backup API (safe with WAL, unlike a file copy),
    written as .partial and renamed when complete: a copy cut short by a kill never carries the
    name of a good one (the leftovers clean-up removes it)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    src = sqlite3.connect(str(source))
    try:
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst)
        finally:
            dst.close()
        os.replace(partial, destination)
    finally:
        src.close()
        partial.unlink(missing_ok=True)
    return destination


def _rotate_pre_migration_backups(folder: Path) -> None:
    backups = sorted(folder.glob("pre-migration-*.sqlite3"))
    for old in backups[:-PRE_MIGRATION_BACKUPS_KEPT]:
        old.unlink(missing_ok=True)


def initialize(*, single_workstation: bool = True) -> dict[str, object]:
    """Back up the database if migrations are pending, migrate, and re-queue orphaned jobs.

    `single_workstation=True` means the caller holds the launcher lock, so any job still marked
    running was left by a process that died.
    """
    report: dict[str, object] = {"backup": None, "migrated": []}
    pending = pending_migrations()
    db = settings.DATABASES["default"]
    if pending:
        db_path = Path(db["NAME"]) if db["ENGINE"].endswith("sqlite3") else None
        has_data = "django_migrations" in connections[DEFAULT_DB_ALIAS].introspection.table_names()
        if db_path is not None and has_data:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            target = settings.DATA_DIR.backups / f"pre-migration-{stamp}.sqlite3"
            backup_sqlite(db_path, target)
            _rotate_pre_migration_backups(settings.DATA_DIR.backups)
            report["backup"] = str(target)
            log.info("Backed up the database to %s before migrating", target)
        # A fault-injection test may stop the process as the k-th migration records itself,
        # inside that migration's transaction (tests/test_faults.py).
        with faults.during_sql("migration", 'INSERT INTO "django_migrations"'):
            call_command("migrate", interactive=False, verbosity=0)
        report["migrated"] = pending
        log.info("Applied %d migrations", len(pending))
    if single_workstation:
        from app.platform.leftovers import clean_leftovers

        report["leftovers_removed"] = clean_leftovers()
        # Once per start of the app (not in every process that imports settings): files restored,
        # copied in by hand or written under another umask become owner-only.
        report["modes_tightened"] = tighten_permissions(settings.DATA_DIR.root)
        requeued, failed = queue.requeue_orphaned(all_running=True)
        if requeued or failed:
            log.warning("Re-queued %d jobs interrupted by an unexpected stop; failed %d", requeued, failed)
        report["requeued"], report["failed"] = requeued, failed
    return report
