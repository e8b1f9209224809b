"""The administrator's home page as a to-do list: what needs doing now (a backup too old or
failing, jobs that failed, a filling disk, a DICOM receiver that is off or needs a restart, packs
installed but not active), each with where to do it. Read-only: nothing here changes anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

BACKUP_WARNING_DAYS = 2


@dataclass
class Todo:
    level: str  # "ok", "warn" or "error"
    title: str
    detail: str
    url_name: str = ""


def admin_todo() -> list[Todo]:
    from app.analysis import packs
    from app.core.models import ClinicSettings
    from app.dicom import receiver
    from app.jobs.models import Job, JobState
    from app.platform import disk_full

    items: list[Todo] = []
    clinic = ClinicSettings.current()
    now = timezone.now()
    if clinic is None or not clinic.backup_folder:
        items.append(Todo("error", _("No backup folder"), _("Nothing is backed up. Choose a folder on another disk or a USB drive."), "backups"))
    elif clinic.last_backup_error:
        items.append(Todo("error", _("The last backup failed"), clinic.last_backup_error[:300], "backups"))
    elif clinic.last_backup_at is None or now - clinic.last_backup_at > timedelta(days=BACKUP_WARNING_DAYS):
        when = timezone.localtime(clinic.last_backup_at).strftime("%Y-%m-%d %H:%M") if clinic.last_backup_at else _("never")
        items.append(Todo("warn", _("Backup too old"), _("Last successful backup: %(when)s.") % {"when": when}, "backups"))
    else:
        items.append(Todo("ok", _("Backups"), _("Last successful backup: %(when)s.") % {"when": timezone.localtime(clinic.last_backup_at).strftime("%Y-%m-%d %H:%M")}, "backups"))

    failed = Job.objects.filter(state=JobState.FAILED, finished_at__gte=now - timedelta(days=7))
    count = failed.count()
    if count:
        kinds = ", ".join(sorted(set(failed.values_list("kind", flat=True)[:50])))
        items.append(Todo("warn", _("Failed jobs this week: %(count)s") % {"count": count}, kinds, ""))

    free = disk_full.free_bytes(settings.DATA_DIR.root)
    low = disk_full.low_space(settings.DATA_DIR.root)
    items.append(Todo("error" if low is not None else "ok", _("Disk space"), _("%(free)s MB free in the data folder.") % {"free": free // 1_000_000}, "retention"))

    configured = receiver.configured()
    state = receiver.STATE
    if configured is None:
        items.append(Todo("ok", _("DICOM receiver"), _("Off: no DICOM port is set."), "clinic_settings"))
    elif state.get("state") == "listening":
        if state.get("port") != configured.port or state.get("ae_title") != configured.ae_title:
            items.append(Todo("warn", _("Restart needed"), _("The DICOM receiver settings changed; they take effect when the app next starts."), "clinic_settings"))
        else:
            items.append(Todo("ok", _("DICOM receiver"), _("Listening on port %(port)s as %(ae)s.") % {"port": state["port"], "ae": state.get("ae_title", "")}, "clinic_settings"))
    elif state.get("state") == "off":
        items.append(Todo("error", _("DICOM receiver off"), str(state.get("reason", "")), "clinic_settings"))
    else:
        items.append(Todo("warn", _("Restart needed"), _("A DICOM receiver is set but not running in this app; it starts when the app next starts."), "clinic_settings"))

    installed, _problems = packs.installed_packs()
    waiting = [p for p in installed if not p.active and not p.bundled]
    if waiting:
        items.append(Todo("warn", _("Model packs installed but not active: %(count)s") % {"count": len(waiting)}, ", ".join(p.pack.label for p in waiting), "pack_list"))
    return items
