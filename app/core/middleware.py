"""Response headers that Django 5.2 does not set by itself."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from app.platform import disk_full

# Everything the UI needs is served by this app: no CDN, no inline script, no remote fonts. The
# policy also makes an accidental external reference fail loudly in development.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class DiskFullMiddleware:
    """A view that hits a full disk answers 507 with what to do, not a server error; what the
    view was writing is cleaned up by its own code (transactions roll back, temporary files go)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not disk_full.is_disk_full(exception):
            return None
        import logging

        logging.getLogger(__name__).error("Disk full while answering %s %s: %s", request.method, request.path, exception)
        return render(request, "disk_full.html", {"message": disk_full.MESSAGE}, status=507)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(settings.STATIC_URL):
            # Patient data must not outlive the session in the browser's cache (Back after log-out,
            # a shared workstation): nothing a logged-in user sees is stored.
            response["Cache-Control"] = "no-store"
        return response
