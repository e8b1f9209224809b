from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from app.platform import disk_full
from app.core.forms import FirstRunForm
from app.core.language import language_for
from app.core.models import ClinicSettings, UserPreference
from app.jobs.status import worker_summary


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, ""
    except Exception as exc:  # the point of /health is to say so instead of crashing
        return False, str(exc)


@login_not_required
@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    db_ok, db_error = _database_ok()
    worker = worker_summary() if db_ok else {"alive": False, "state": "unknown", "engine": {}}
    engine = worker["engine"]
    body: dict[str, Any] = {
        "status": "ok" if db_ok and worker["alive"] else "degraded",
        "version": settings.APP_VERSION,
        "database": {"ok": db_ok, "vendor": connection.vendor, **({"error": db_error} if db_error else {})},
        "worker": {"alive": worker["alive"], "count": worker.get("count", 0), "state": worker["state"]},
        "compute_device": engine.get("device", "unknown until a worker has started"),
        "model_pack": engine.get("model_pack", {"loaded": False, "reason": "no worker has reported yet"}),
        "disk": {"free_bytes": disk_full.free_bytes(settings.DATA_DIR.root), "reserve_bytes": disk_full.reserve_bytes()},
    }
    return JsonResponse(body, status=200 if db_ok else 503)


def needs_first_run() -> bool:
    return not get_user_model().objects.exists()


@login_not_required
def first_run(request: HttpRequest) -> HttpResponse:
    """Set the clinic name and create the administrator; only while no account exists."""
    if not needs_first_run():
        return redirect("home")
    form = FirstRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if not needs_first_run():  # two tabs submitted at once: the first one wins
                return redirect("login")
            user = form.save()
            ClinicSettings.objects.update_or_create(pk=1, defaults={"clinic_name": form.cleaned_data["clinic_name"]})
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, gettext("Set-up complete. Welcome."))
        return redirect("home")
    return render(request, "core/first_run.html", {"form": form})


def home(request: HttpRequest) -> HttpResponse:
    from app.clinical.dashboard import summary
    from app.core.roles import ADMINS, CLINICAL, roles_of

    from app.clinical.retakes import retakes_needed

    context = {"worker": worker_summary()}
    if roles_of(request.user) & ADMINS:
        from app.core.todo import admin_todo

        context["todo"] = admin_todo()
    if roles_of(request.user) & CLINICAL:
        context["stats"] = summary()
        context["retakes"] = retakes_needed()
    return render(request, "core/home.html", context)


class ClinicSettingsForm(forms.ModelForm):
    # Left empty: the default (the consensus at least 50% sure).
    urgent_min_confidence = forms.FloatField(required=False, min_value=0.0, max_value=1.0)

    class Meta:
        model = ClinicSettings
        fields = ("clinic_name", "language", "session_idle_minutes", "import_folders", "dicom_port", "dicom_ae_title", "dicom_allowed_calling", "dicom_listen_on_network",
                  "pacs_host", "pacs_port", "pacs_ae_title", "pacs_send_automatically", "urgent_findings", "urgent_min_confidence")
        labels = {
            "clinic_name": _("Clinic name"), "language": _("Language"),
            "session_idle_minutes": _("Log out after (minutes without activity)"), "import_folders": _("Folders a folder import may read"),
            "dicom_port": _("DICOM receiver port"), "dicom_ae_title": _("DICOM receiver AE title"),
            "dicom_allowed_calling": _("X-ray units allowed to send (calling AE titles)"), "dicom_listen_on_network": _("Receive from the network"),
            "pacs_host": _("PACS address"), "pacs_port": _("PACS port"), "pacs_ae_title": _("PACS AE title"),
            "pacs_send_automatically": _("Send every AI result to the PACS"),
            "urgent_findings": _("Urgent findings"), "urgent_min_confidence": _("Urgent from AI confidence"),
        }
        help_texts = {
            "language": _("for everyone who has not chosen their own"),
            "session_idle_minutes": _("log out after this many minutes without a click or key press"),
            "import_folders": _("folders a folder import may read from, one full path per line; removable media (/media, /run/media, /mnt, /Volumes) are always allowed"),
            "dicom_port": _("empty: no DICOM receiver; 104 or 11112 are usual. Changes take effect when the app next starts."),
            "dicom_allowed_calling": _("one AE title per line, exactly as set on the X-ray unit; no one else may send"),
            "dicom_listen_on_network": _("off: only programs on this computer can send; on: the X-ray unit on the clinic network can"),
            "pacs_host": _("the PACS's IP address or name; AI results are sent as DICOM Secondary Capture and Structured Report"),
            "pacs_send_automatically": _("off: results are sent only when someone presses Send to the PACS on the study page"),
            "urgent_findings": _("one finding per line, as the model pack names it (for example COVID-19); empty: every finding other than normal. Unreviewed studies with these findings raise a banner for radiologists on every page."),
            "urgent_min_confidence": _("from 0 to 1; 0.5 means the models' consensus is at least 50% sure"),
        }
        widgets = {
            "import_folders": forms.Textarea(attrs={"rows": 3, "placeholder": "/srv/xray-exports"}),
            "dicom_allowed_calling": forms.Textarea(attrs={"rows": 2, "placeholder": "XRAY_ROOM_1"}),
            "urgent_findings": forms.Textarea(attrs={"rows": 2, "placeholder": "COVID-19"}),
        }

    def clean_urgent_min_confidence(self) -> float:
        value = self.cleaned_data.get("urgent_min_confidence")
        return ClinicSettings._meta.get_field("urgent_min_confidence").default if value is None else value

    def clean_dicom_port(self) -> int | None:
        """A port another program holds would leave the receiver off at the next start: say so now."""
        import socket

        from app.dicom import receiver

        port = self.cleaned_data.get("dicom_port")
        if port and port != receiver.STATE.get("port"):
            with socket.socket() as probe:
                try:
                    probe.bind(("0.0.0.0" if self.cleaned_data.get("dicom_listen_on_network") else "127.0.0.1", port))
                except OSError as exc:
                    raise forms.ValidationError(gettext("Port %(port)s cannot be used (%(reason)s): another program holds it, or it needs administrator rights. Choose another, for example 11112.")
                                                % {"port": port, "reason": exc.strerror or exc}) from None
        return port

    def clean_import_folders(self) -> str:
        import os

        lines = [line.strip() for line in self.cleaned_data["import_folders"].splitlines() if line.strip()]
        for line in lines:
            if not Path(line).is_absolute():
                raise forms.ValidationError(f"{line}: give the full path of the folder.")
            if not Path(line).is_dir() or not os.access(line, os.R_OK | os.X_OK):
                raise forms.ValidationError(gettext("%(folder)s does not exist on this computer or cannot be read.") % {"folder": line})
            if Path(line).resolve() in (Path("/"), Path(Path.cwd().anchor)):
                raise forms.ValidationError("Not the whole disk: name the folder the X-ray unit or digitiser exports to.")
        return "\n".join(lines)


def clinic_settings(request: HttpRequest) -> HttpResponse:
    clinic = ClinicSettings.current() or ClinicSettings.objects.create(pk=1, clinic_name="Clinic")
    clinic_before = ClinicSettings.objects.get(pk=clinic.pk)
    form = ClinicSettingsForm(request.POST or None, instance=clinic)
    if request.method == "POST" and form.is_valid():
        # What really changed (a field left empty that takes its default is no change).
        changed = {f: str(form.cleaned_data[f]) for f in form.changed_data if str(form.cleaned_data[f]) != str(getattr(clinic_before, f, None))}
        form.save()
        from app.audit import trail as audit

        audit.record(request.user, audit.CHANGED, clinic, "Clinic settings changed", **changed)
        messages.success(request, gettext("Settings saved."))
        return redirect("clinic_settings")
    sections = [(title, [form[name] for name in names]) for title, names in SETTINGS_SECTIONS]
    return render(request, "core/clinic_settings.html", {"form": form, "sections": sections, "env_idle_seconds": settings.SESSION_IDLE_SECONDS})


# The settings page in sections, in the order an administrator sets a clinic up.
SETTINGS_SECTIONS = [
    (_("Clinic"), ["clinic_name", "language"]),
    (_("Sessions"), ["session_idle_minutes"]),
    (_("Folder imports"), ["import_folders"]),
    (_("DICOM receiver (films from the X-ray unit)"), ["dicom_port", "dicom_ae_title", "dicom_allowed_calling", "dicom_listen_on_network"]),
    (_("PACS (where AI results go)"), ["pacs_host", "pacs_port", "pacs_ae_title", "pacs_send_automatically"]),
    (_("Urgent findings"), ["urgent_findings", "urgent_min_confidence"]),
]


@require_POST
def settings_pacs_echo(request: HttpRequest) -> HttpResponse:
    """Test connection: a C-ECHO to the PACS as set now."""
    from app.audit import trail as audit
    from app.dicom import send

    try:
        answered = send.echo()
    except (ConnectionError, OSError, ValueError) as exc:
        messages.error(request, gettext("The PACS did not answer: %(reason)s.") % {"reason": exc})
        audit.record(request.user, audit.CHANGED, None, f"PACS connection test failed: {exc}")
    else:
        messages.success(request, gettext("The PACS answered (%(pacs)s).") % {"pacs": answered})
        audit.record(request.user, audit.CHANGED, None, f"PACS connection test succeeded: {answered}")
    return redirect("clinic_settings")


@require_POST
def settings_receiver_restart(request: HttpRequest) -> HttpResponse:
    """Apply the DICOM receiver's settings now instead of at the next start of the app."""
    from app.audit import trail as audit
    from app.dicom import receiver

    state = receiver.restart()
    if state.get("state") == "listening":
        messages.success(request, gettext("The DICOM receiver listens on port %(port)s as %(ae)s.") % {"port": state["port"], "ae": state.get("ae_title", "")})
    else:
        messages.error(request, gettext("The DICOM receiver is off: %(reason)s.") % {"reason": state.get("reason", "")})
    audit.record(request.user, audit.CHANGED, None, f"DICOM receiver restarted from Settings: {state.get('state')} {state.get('reason', '')}".strip())
    return redirect("clinic_settings")


class LoginView(auth_views.LoginView):
    """Django's login, except that a fresh install goes to the first-run set-up instead."""

    template_name = "core/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        from app.core.idle import describe_idle

        expired = self.request.GET.get("expired", "")
        context["expired_after"] = describe_idle(int(expired)) if expired.isdigit() and 0 < int(expired) < 10**6 else None
        return context

    @method_decorator(login_not_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if needs_first_run():
            return redirect("first_run")
        return super().dispatch(request, *args, **kwargs)


@require_GET
def help_page(request: HttpRequest) -> HttpResponse:
    return render(request, "core/help.html")


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = UserPreference
        fields = ("language",)
        labels = {"language": _("Language")}

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # The empty choice says what it means instead of "---------".
        self.fields["language"].choices = [("", _("The clinic's language")), *settings.LANGUAGES]


def preferences(request: HttpRequest) -> HttpResponse:
    """Each person's own settings (for now the language of the app and of their PDF reports)."""
    preference, _created = UserPreference.objects.get_or_create(user=request.user)
    form = PreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        translation.activate(preference.language or language_for(request))
        messages.success(request, gettext("Preferences saved."))
        return redirect("preferences")
    return render(request, "core/preferences.html", {"form": form})
