"""Administration of people: user accounts (one or more roles each: in a small clinic the
administrator is often also the radiographer), password resets, unlocking, deactivation, and the
audit log of what they did. The last active administrator can never be locked out of the app."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from app.audit import trail as audit
from app.audit.models import AuditEvent
from app.core.forms import NewUserForm
from app.core.paging import CappedPaginator
from app.core import password_reset
from app.core.roles import ADMINISTRATOR, CLINICAL, ROLES, grant, roles_of


def filtered_events(params: dict[str, str]) -> tuple[QuerySet[AuditEvent], list[str]]:
    """The audit log's filters: dates (YYYY-MM-DD), user, action, patient ID (the patient's record
    and every study of theirs, voided or merged records included), words of the summary."""
    from datetime import date

    from app.clinical.models import Patient, Study

    events, errors = AuditEvent.objects.all(), []
    for key, lookup in (("from", "at__date__gte"), ("to", "at__date__lte")):
        if params.get(key):
            try:
                events = events.filter(**{lookup: date.fromisoformat(params[key])})
            except ValueError:
                errors.append(gettext("Dates are written YYYY-MM-DD; that filter was left out."))
    if params.get("username"):
        events = events.filter(username=params["username"])
    if params.get("action"):
        events = events.filter(action=params["action"])
    if params.get("patient"):
        records = list(Patient.objects.filter(patient_id=params["patient"]).values_list("pk", flat=True))
        records += list(Patient.objects.filter(merged_into__in=records).values_list("pk", flat=True))
        studies = [str(pk) for pk in Study.objects.filter(patient__in=records).values_list("pk", flat=True)]
        events = events.filter(Q(object_type="patient", object_id__in=[str(pk) for pk in records]) | Q(object_type="study", object_id__in=studies)
                               | Q(summary__contains=params["patient"]))
    if params.get("q"):
        events = events.filter(summary__icontains=params["q"])
    return events, errors


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    params = {k: request.GET.get(k, "").strip() for k in ("from", "to", "username", "action", "patient", "q")}
    events, errors = filtered_events(params)
    page = CappedPaginator(events, 50).get_page(request.GET.get("page"))
    from app.audit.sentences import in_words

    for event in page.object_list:
        event.words = in_words(event.summary)
    context = {"page": page, "filters": params, "errors": errors, "actions": audit.ACTION_LABELS, "labels": dict(audit.ACTION_LABELS),
               "clinical": bool(roles_of(request.user) & CLINICAL), "query": request.GET.urlencode()}
    return render(request, "clinical/audit_log.html", context)


@require_GET
def audit_log_csv(request: HttpRequest) -> HttpResponse:
    import csv
    import io

    from django.utils import timezone

    params = {k: request.GET.get(k, "").strip() for k in ("from", "to", "username", "action", "patient", "q")}
    events, _errors = filtered_events(params)
    labels = dict(audit.ACTION_LABELS)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(["when", "user", "action", "object", "summary"])
    for e in events.iterator():
        summary = "'" + e.summary if e.summary.startswith(("=", "+", "-", "@")) else e.summary
        writer.writerow([timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.username, str(labels.get(e.action, e.action)), f"{e.object_type} {e.object_id}".strip(), summary])
    audit.record(request.user, audit.EXPORTED, None, "Audit log exported as CSV", filters=params)
    response = HttpResponse(buffer.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{timezone.localdate():%Y%m%d}.csv"'
    return response


@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    from axes.models import AccessAttempt
    from django.conf import settings

    users = User.objects.prefetch_related("groups").order_by("username")
    locked = set(AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT).values_list("username", flat=True))
    return render(request, "clinical/user_list.html", {"users": users, "locked": locked})


class UserEditForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=[(r, _(r)) for r in ROLES], widget=forms.CheckboxSelectMultiple, required=False)
    is_active = forms.BooleanField(label=_("Active (may log in)"), required=False)


def _active_admins() -> QuerySet[User]:
    return User.objects.filter(is_active=True, groups__name=ADMINISTRATOR).distinct()


def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    before = {"roles": sorted(roles_of(person)), "is_active": person.is_active, "name": person.get_full_name()}
    initial = {"first_name": person.first_name, "last_name": person.last_name, "roles": before["roles"], "is_active": person.is_active}
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        roles, active = set(form.cleaned_data["roles"]), form.cleaned_data["is_active"]
        last_admin = _active_admins().filter(pk=person.pk).exists() and _active_admins().count() == 1
        if last_admin and (ADMINISTRATOR not in roles or not active):
            form.add_error(None, gettext("%(name)s is the only active administrator: keep the role and the account, or make someone else administrator first.") % {"name": person.username})
        elif not roles and active:
            form.add_error("roles", gettext("Give at least one role, or deactivate the account."))
        else:
            with transaction.atomic():
                person.first_name, person.last_name, person.is_active = form.cleaned_data["first_name"], form.cleaned_data["last_name"], active
                person.save(update_fields=["first_name", "last_name", "is_active"])
                person.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name__in=roles))
                grant(person, *roles)
                after = {"roles": sorted(roles), "is_active": active, "name": person.get_full_name()}
                changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
                if changes:
                    words = []
                    if "roles" in changes:
                        words.append(f"roles {', '.join(before['roles']) or 'none'} → {', '.join(after['roles']) or 'none'}")
                    if "is_active" in changes:
                        words.append("reactivated" if active else "deactivated")
                    if "name" in changes:
                        words.append(f"name {before['name'] or '—'} → {after['name'] or '—'}")
                    audit.record(request.user, audit.CHANGED, person, f"Account {person.username}: {'; '.join(words)}", **changes)
            messages.success(request, gettext("Account %(name)s saved.") % {"name": person.username})
            return redirect("user_list")
    return render(request, "clinical/user_edit.html", {"person": person, "form": form, "locked": is_locked(person.username)},
                  status=400 if form.errors else 200)


@require_POST
def user_reset_password(request: HttpRequest, pk: int) -> HttpResponse:
    """A one-time password, shown once here; the person must choose their own at the next login."""
    person = get_object_or_404(User, pk=pk)
    temporary = password_reset.reset(person)
    unlock(person.username)
    audit.record(request.user, audit.CHANGED, person, f"Account {person.username}: password reset by an administrator (must be changed at next login)")
    return render(request, "clinical/user_password_reset.html", {"person": person, "temporary": temporary})


@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    unlock(person.username)
    audit.record(request.user, audit.CHANGED, person, f"Account {person.username} unlocked after wrong passwords")
    messages.success(request, gettext("%(name)s can log in again.") % {"name": person.username})
    return redirect("user_list")


def is_locked(username: str) -> bool:
    from axes.models import AccessAttempt
    from django.conf import settings

    return AccessAttempt.objects.filter(username=username, failures_since_start__gte=settings.AXES_FAILURE_LIMIT).exists()


def unlock(username: str) -> None:
    from axes.utils import reset

    reset(username=username)


def user_create(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        grant(user, form.cleaned_data["role"])
        audit.record(request.user, audit.CREATED, user, f"Account {user.username} created as {form.cleaned_data['role']}")
        messages.success(request, gettext("Account %(name)s created.") % {"name": user.username})
        return redirect("user_list")
    return render(request, "clinical/user_form.html", {"form": form})
