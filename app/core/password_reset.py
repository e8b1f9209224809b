"""A password an administrator reset: the person gets a one-time password from the
administrator and must choose their own before anything else (RequirePasswordChangeMiddleware)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext

from app.core.models import UserPreference

# Pages a person who must change their password may still open.
ALLOWED = ("password_change", "password_change_done", "logout")
SESSION_KEY = "cxr_must_change_password"


def reset(user: User) -> str:
    """A new one-time password (shown once to the administrator) that must be changed at login."""
    temporary = secrets.token_urlsafe(9)
    user.set_password(temporary)
    user.save(update_fields=["password"])
    UserPreference.objects.update_or_create(user=user, defaults={"must_change_password": True})
    return temporary


def remember_at_login(sender, request: HttpRequest, user: User, **kwargs) -> None:  # noqa: ANN001, ANN003
    """A reset password is known at login and kept in the session, so no page asks the database.
    (A reset logs the person out: Django ties sessions to the password.)"""
    if request is not None and UserPreference.objects.filter(user=user, must_change_password=True).exists():
        request.session[SESSION_KEY] = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "core/password_change.html"

    def form_valid(self, form) -> HttpResponse:  # noqa: ANN001
        response = super().form_valid(form)
        UserPreference.objects.filter(user=self.request.user).update(must_change_password=False)
        self.request.session.pop(SESSION_KEY, None)
        return response


class RequirePasswordChangeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict) -> HttpResponse | None:
        if not request.session.get(SESSION_KEY):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in ALLOWED:
            return None
        messages.info(request, gettext("An administrator reset your password: choose your own before you go on."))
        return redirect(reverse("password_change"))
