"""The urgent-findings banner, polled by radiologists' pages so a new positive shows without a reload."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from app.clinical.urgent import banner_context


@require_GET
def urgent_banner_view(request: HttpRequest) -> HttpResponse:
    return render(request, "clinical/_urgent_banner.html", banner_context())
