from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from app.backups import archive as backup
from app.audit import trail as audit
from app.core.models import ClinicSettings
from app.jobs import queue
from app.jobs.models import Job, Priority
from app.backups.jobs import BACKUP, backup_pending


class BackupSettingsForm(forms.ModelForm):
    class Meta:
        model = ClinicSettings
        fields = ("backup_folder", "daily_backup", "backups_kept")
        labels = {"backup_folder": _("Backup folder"), "daily_backup": _("Back up every day"), "backups_kept": _("Backups kept")}
        help_texts = {"backup_folder": _("for example a USB drive")}

    def clean_backup_folder(self) -> str:
        folder = self.cleaned_data["backup_folder"].strip()
        if folder and not Path(folder).is_absolute():
            raise forms.ValidationError(_("Give the full path of the folder, for example /media/usb/cxr-backups or E:\\\\cxr-backups."))
        if folder and not Path(folder).is_dir():
            raise forms.ValidationError(_("That folder does not exist on this computer: plug in the drive, or create the folder first."))
        return folder

    def clean(self):  # noqa: ANN201
        data = super().clean()
        # A backup folder set for the first time turns the daily backup on: a clinic that chose
        # where backups go wants them made.
        if data.get("backup_folder") and not self.instance.backup_folder:
            data["daily_backup"] = True
        return data


def backups(request: HttpRequest) -> HttpResponse:
    clinic = ClinicSettings.current() or ClinicSettings.objects.create(pk=1, clinic_name="Clinic")
    form = BackupSettingsForm(request.POST or None, instance=clinic)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit.record(request.user, audit.CHANGED, clinic, "Backup settings changed", **{k: str(v) for k, v in form.cleaned_data.items()})
        messages.success(request, gettext("Backup settings saved."))
        return redirect("backups")
    folder = Path(clinic.backup_folder) if clinic.backup_folder else None
    archives = sorted(folder.glob(f"{backup.PREFIX}*.zip"), reverse=True) if folder and folder.is_dir() else []
    recent = Job.objects.filter(kind=BACKUP).order_by("-id")[:5]
    from django.conf import settings

    from app.backups.restore_at_start import pending

    context = {"form": form, "clinic": clinic, "archives": archives, "jobs": recent, "pending": backup_pending(),
               "restorable": restorable_archives(), "restore_pending": pending(settings.DATA_DIR)}
    return render(request, "maintenance/backups.html", context)


def restorable_archives() -> list[Path]:
    """Backups the app can restore from: the backup folder's and those on removable media (a USB
    stick brought from another workstation), newest name first."""
    from app.platform.removable_media import removable_mounts

    clinic = ClinicSettings.current()
    places = [Path(clinic.backup_folder)] if clinic and clinic.backup_folder else []
    places += list(removable_mounts())
    found: set[Path] = set()
    for place in places:
        if place.is_dir():
            found.update(place.glob(f"{backup.PREFIX}*.zip"))
            found.update(place.glob(f"*/{backup.PREFIX}*.zip"))
    return sorted(found, key=lambda p: p.name, reverse=True)[:50]


def _chosen_archive(request: HttpRequest) -> Path | None:
    """Only an archive the page offered (no path typed in): the backup folder or removable media."""
    wanted = request.POST.get("archive", "")
    return next((a for a in restorable_archives() if str(a) == wanted), None)


@require_POST
def restore_check(request: HttpRequest) -> HttpResponse:
    """Verify the chosen archive and show what it holds before anything is decided."""
    chosen = _chosen_archive(request)
    if chosen is None:
        messages.error(request, gettext("Choose one of the backups listed."))
        return redirect("backups")
    try:
        manifest = backup.verify(chosen)
    except backup.BackupError as exc:
        messages.error(request, gettext("This backup cannot be restored: %(reason)s") % {"reason": exc})
        return redirect("backups")
    return render(request, "maintenance/restore_confirm.html", {"archive": chosen, "manifest": manifest})


@require_POST
def restore_request(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    from app.backups.restore_at_start import request as ask

    chosen = _chosen_archive(request)
    if chosen is None or request.POST.get("confirm") != "yes":
        messages.error(request, gettext("Choose one of the backups listed and confirm."))
        return redirect("backups")
    try:
        ask(settings.DATA_DIR, chosen, request.user.get_username())
    except backup.BackupError as exc:
        messages.error(request, gettext("This backup cannot be restored: %(reason)s") % {"reason": exc})
        return redirect("backups")
    audit.record(request.user, audit.CHANGED, None, f"Restore from {chosen.name} requested for the next start of the app")
    messages.success(request, gettext("The restore happens when the app next starts: close the app and open it again. The data as it is now is kept in a safety copy beside it."))
    return redirect("backups")


@require_POST
def restore_cancel(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    from app.backups.restore_at_start import cancel

    if cancel(settings.DATA_DIR):
        audit.record(request.user, audit.CHANGED, None, "Restore at the next start cancelled")
        messages.info(request, gettext("No restore will happen."))
    return redirect("backups")


@require_POST
def backup_now(request: HttpRequest) -> HttpResponse:
    clinic = ClinicSettings.current()
    if not clinic or not clinic.backup_folder:
        messages.error(request, gettext("Choose a backup folder first."))
    elif backup_pending():
        messages.info(request, gettext("A backup is already waiting or running."))
    else:
        queue.enqueue(BACKUP, {"requested_by": request.user.get_username()}, priority=Priority.URGENT)
        audit.record(request.user, audit.EXPORTED, clinic, f"Backup to {clinic.backup_folder} requested")
        messages.success(request, gettext("The backup has started; this page shows when it is done."))
    return redirect("backups")


class RetentionForm(forms.ModelForm):
    class Meta:
        model = ClinicSettings
        fields = ("retention_days",)
        help_texts = {"retention_days": _("remove studies older than this; empty keeps them forever")}


def retention(request: HttpRequest) -> HttpResponse:
    from app.backups import retention as rules

    clinic = ClinicSettings.current() or ClinicSettings.objects.create(pk=1, clinic_name="Clinic")
    form = RetentionForm(request.POST or None, instance=clinic)
    if request.method == "POST" and "save" in request.POST and form.is_valid():
        form.save()
        audit.record(request.user, audit.CHANGED, clinic, f"Retention set to {clinic.retention_days or 'keep forever'} days")
        messages.success(request, gettext("Retention saved. Nothing is removed until you confirm below."))
        return redirect("retention")
    if request.method == "POST" and "remove" in request.POST:
        if request.POST.get("confirm", "").strip().upper() != "REMOVE":
            messages.error(request, gettext("Type REMOVE to confirm; nothing was removed."))
        else:
            removed = rules.apply(clinic, request.user, include_never_backed_up=request.POST.get("include_unbacked") == "on")
            messages.success(request, ngettext("%(count)d study and its files were removed.", "%(count)d studies and their files were removed.", removed) % {"count": removed})
        return redirect("retention")
    return render(request, "maintenance/retention.html", {"form": form, "plan": rules.plan(clinic), "clinic": clinic})
