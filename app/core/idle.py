"""Log a person out after the clinic's idle time, counting only what a person does.

Background requests (the worklist refreshing itself, a study page watching its analysis, an
import's progress bar) are marked by the page with the header `X-CXR-Poll: 1` (htmx
`hx-headers`) and never count as activity: a worklist left open on a shared workstation must not
keep its user logged in for ever. After the idle time, the next request of any kind (a poll
included) ends the session and goes to the login page, which says why.

The idle time is the administrator's setting (Clinic settings, default 30 minutes);
CXR_SESSION_IDLE_SECONDS overrides it (tests, kiosks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

POLL_HEADER = "X-CXR-Poll"
LAST_ACTIVITY = "cxr_last_activity"
DEFAULT_IDLE_MINUTES = 30


def idle_seconds() -> int:
    if settings.SESSION_IDLE_SECONDS:
        return settings.SESSION_IDLE_SECONDS
    from app.core.models import ClinicSettings

    clinic = ClinicSettings.current()
    return 60 * (clinic.session_idle_minutes if clinic else DEFAULT_IDLE_MINUTES)


def describe_idle(seconds: int) -> str:
    """'30 minutes', '1 minute', '20 seconds'."""
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def is_poll(request: HttpRequest) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_ACTIVITY)
            if last is not None and now - last > idle_seconds():
                return self._expired(request)
            if last is None or not is_poll(request):
                request.session[LAST_ACTIVITY] = now
        return self.get_response(request)

    @staticmethod
    def _expired(request: HttpRequest) -> HttpResponse:
        seconds = idle_seconds()
        logout(request)
        # A background poll would put the login page inside the worklist; htmx follows
        # HX-Redirect with a full page load instead.
        target = reverse("login") + "?" + urlencode({"expired": seconds, "next": request.headers.get("HX-Current-URL", request.get_full_path()) if request.headers.get("HX-Request") else request.get_full_path()})
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)
