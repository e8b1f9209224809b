from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from app.core.models import ClinicSettings


def app_info(request: HttpRequest) -> dict[str, Any]:
    clinic = ClinicSettings.current()
    return {
        "app_version": settings.APP_VERSION,
        "clinic_name": clinic.clinic_name if clinic else "",
    }
