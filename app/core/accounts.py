"""Administration of people: user accounts (each with one role) and the audit log of what they did."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from app.audit import trail as audit
from app.audit.models import AuditEvent
from app.core.forms import NewUserForm
from app.core.paging import CappedPaginator
from app.core.roles import grant


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.all()
    for field in ("action", "username"):
        if request.GET.get(field):
            events = events.filter(**{field: request.GET[field]})
    if request.GET.get("q"):
        events = events.filter(summary__icontains=request.GET["q"])
    page = CappedPaginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "clinical/audit_log.html", {"page": page, "filters": request.GET, "actions": audit.ACTION_LABELS})


@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.prefetch_related("groups").order_by("username")
    return render(request, "clinical/user_list.html", {"users": users})


def user_create(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        grant(user, form.cleaned_data["role"])
        audit.record(request.user, audit.CREATED, user, f"Account {user.username} created as {form.cleaned_data['role']}")
        messages.success(request, gettext("Account %(name)s created.") % {"name": user.username})
        return redirect("user_list")
    return render(request, "clinical/user_form.html", {"form": form})
