from django import template
from django.contrib.auth.models import AbstractBaseUser

from app.core.roles import has_role as _has_role

register = template.Library()


@register.filter
def has_role(user: AbstractBaseUser, role: str) -> bool:
    return _has_role(user, role)


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


@register.filter
def get_item(mapping: dict, key: str):  # noqa: ANN201
    return mapping.get(key) if mapping else None


@register.filter
def cut_at(value: str, index: int) -> str:
    """Part `index` of "name@version"."""
    parts = str(value).split("@", 1)
    return parts[index] if index < len(parts) else ""
