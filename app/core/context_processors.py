from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from app.platform import disk_full
from app.core.models import ClinicSettings
from app.jobs.status import worker_summary


def app_info(request: HttpRequest) -> dict[str, Any]:
    clinic = ClinicSettings.current()
    pack = worker_summary()["engine"].get("model_pack", {}) if request.user.is_authenticated else {}
    return {
        "app_version": settings.APP_VERSION,
        "clinic_name": clinic.clinic_name if clinic else "",
        "active_pack": pack,
        # Every page says so while an unvalidated pack produces the results.
        "demonstration_pack": bool(pack.get("loaded") and not pack.get("validated")),
        # Free bytes when the data disk is nearly full (base.html warns), else None.
        "disk_low": disk_full.low_space(settings.DATA_DIR.root) if request.user.is_authenticated else None,
    }
