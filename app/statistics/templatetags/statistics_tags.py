from __future__ import annotations

from typing import Any

from django import template

from app.statistics.measures import ClassMeasures, Proportion

register = template.Library()


@register.filter
def zip_rows(labels: list[str], matrix: list[list[int]]) -> list[tuple[str, list[int]]]:
    return list(zip(labels, matrix))


@register.filter
def measures(row: ClassMeasures) -> list[Proportion]:
    return [row.sensitivity, row.specificity, row.ppv, row.npv]


@register.filter
def multiply(value: Any, factor: int) -> int:
    return int(value) * int(factor) if not isinstance(value, (list, tuple)) else len(value) * int(factor)


@register.filter
def minutes(value: float | None) -> str:
    """A duration in minutes as a person reads it: "45 s", "12 min", "3.5 h", "2.1 d"."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 60:.0f} s"
    if value < 120:
        return f"{value:.0f} min"
    if value < 48 * 60:
        return f"{value / 60:.1f} h"
    return f"{value / 1440:.1f} d"
