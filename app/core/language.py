"""Each request in the language of the person making it: their own choice, else the clinic's.

Django's LocaleMiddleware follows the browser's Accept-Language; at a shared workstation the
browser is the same for everyone, so the choice is stored per account (UserPreference) with a
clinic-wide default (ClinicSettings.language) instead. The login page, before anyone is known,
uses the clinic's language.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from app.core.models import ClinicSettings, UserPreference

SUPPORTED = {code for code, _ in settings.LANGUAGES}


def language_for(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        chosen = UserPreference.objects.filter(user=user).values_list("language", flat=True).first()
        if chosen in SUPPORTED:
            return chosen
    clinic = ClinicSettings.current()
    if clinic and clinic.language in SUPPORTED:
        return clinic.language
    return settings.LANGUAGE_CODE


class LanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = language_for(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        response.headers.setdefault("Content-Language", language)
        return response
