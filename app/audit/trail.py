"""Write and read the audit trail: who viewed, created, changed, reviewed, corrected, exported or
deleted what, when, and why."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from app.audit.models import AuditEvent

VIEWED, CREATED, CHANGED, REVIEWED, EXPORTED, DELETED, ANALYSED = "viewed", "created", "changed", "reviewed", "exported", "deleted", "analysed"
GATE_OVERRIDDEN = "gate_overridden"
REFUSED = "refused"  # a connection or request turned away (the DICOM receiver)
# Corrections (app/corrections): nothing is destroyed, each says who, when and why.
MOVED, VOIDED, RESTORED, MERGED, AMENDED = "moved", "voided", "restored", "merged", "amended"
# For the audit log's filter: the stored value and what a person reads.
ACTION_LABELS = [
    (VIEWED, _("viewed")), (CREATED, _("created")), (CHANGED, _("changed")), (REVIEWED, _("reviewed")), (AMENDED, _("amended")),
    (EXPORTED, _("exported")), (DELETED, _("deleted")), (ANALYSED, _("analysed")), (GATE_OVERRIDDEN, _("quality gate overruled")),
    (REFUSED, _("refused")), (MOVED, _("moved to another patient")), (VOIDED, _("voided")), (RESTORED, _("restored")),
    (MERGED, _("patients merged")),
]
# What a study's history shows: what happened to it, not every time someone opened it.
HISTORY_ACTIONS = [a for a, _label in ACTION_LABELS if a not in (VIEWED, EXPORTED)]


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


def history(obj: models.Model) -> QuerySet[AuditEvent]:
    """What was done to one record, newest first (its views and downloads left out)."""
    return AuditEvent.objects.filter(object_type=obj._meta.model_name, object_id=str(obj.pk), action__in=HISTORY_ACTIONS)
