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


def reset(user: User) -> str:
    """A new one-time password (shown once to the administrator) that must be changed at login."""
    temporary = secrets.token_urlsafe(9)
    user.set_password(temporary)
    user.save(update_fields=["password"])
    UserPreference.objects.update_or_create(user=user, defaults={"must_change_password": True})
    return temporary


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "core/password_change.html"

    def form_valid(self, form) -> HttpResponse:  # noqa: ANN001
        response = super().form_valid(form)
        UserPreference.objects.filter(user=self.request.user).update(must_change_password=False)
        return response


class RequirePasswordChangeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            match = request.resolver_match
            name = match.url_name if match else None
            if name is None:
                from django.urls import Resolver404, resolve

                try:
                    name = resolve(request.path_info).url_name
                except Resolver404:
                    name = None
            if name not in ALLOWED and not request.path_info.startswith("/static/") and UserPreference.objects.filter(user=user, must_change_password=True).exists():
                messages.info(request, gettext("An administrator reset your password: choose your own before you go on."))
                return redirect(reverse("password_change"))
        return self.get_response(request)
