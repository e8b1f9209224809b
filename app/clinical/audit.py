"""Write the audit trail: who viewed, created, changed, reviewed, exported or deleted what, when."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from app.clinical.models import AuditEvent

VIEWED, CREATED, CHANGED, REVIEWED, EXPORTED, DELETED, ANALYSED = "viewed", "created", "changed", "reviewed", "exported", "deleted", "analysed"
GATE_OVERRIDDEN = "gate_overridden"
REFUSED = "refused"  # a connection or request turned away (the DICOM receiver)
# For the audit log's filter: the stored value and what a person reads.
ACTION_LABELS = [
    (VIEWED, _("viewed")), (CREATED, _("created")), (CHANGED, _("changed")), (REVIEWED, _("reviewed")), (EXPORTED, _("exported")),
    (DELETED, _("deleted")), (ANALYSED, _("analysed")), (GATE_OVERRIDDEN, _("quality gate overruled")), (REFUSED, _("refused")),
]


def record(user: AbstractBaseUser | AnonymousUser | None, action: str, obj: models.Model | None, summary: str, **detail: Any) -> AuditEvent:
    authenticated = user is not None and user.is_authenticated
    return AuditEvent.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        summary=summary[:300],
        detail=detail,
    )
