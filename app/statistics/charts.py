"""Server-drawn SVG charts for the statistics page (no chart library, no script): the numbers
become coordinates here, the template only draws them."""

from __future__ import annotations

from typing import Any

from app.statistics.measures import ClassMeasures

BAR_AREA = 120
INTERVAL_WIDTH = 260


def day_bars(per_day: list[dict[str, Any]]) -> dict[str, Any]:
    peak = max([d["films"] for d in per_day] + [1])
    width = max(4, min(22, 700 // max(len(per_day), 1)))
    bars = [{"x": i * (width + 2), "y": BAR_AREA - round(BAR_AREA * d["films"] / peak), "height": round(BAR_AREA * d["films"] / peak),
             "title": f"{d['day']:%Y-%m-%d}: {d['films']}"} for i, d in enumerate(per_day)]
    return {"bars": bars, "bar_width": width, "width": len(per_day) * (width + 2), "height": BAR_AREA, "peak": peak}


def confusion_cells(matrix: list[list[int]], rows: list[str], columns: list[str]) -> dict[str, Any]:
    """The matrix as shaded squares: the darker, the larger the share of that row."""
    size = 56
    cells = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            cells.append({"x": j * size, "y": i * size, "count": count, "opacity": f"{0.08 + 0.85 * count / total:.2f}", "diagonal": i == j,
                          "title": f"radiologist {rows[i]}, AI {columns[j]}: {count}"})
    return {"cells": cells, "size": size, "width": len(columns) * size, "height": len(rows) * size}


def intervals(classes: list[ClassMeasures]) -> list[dict[str, Any]]:
    """Per class, sensitivity and specificity as a dot on a 0–100% line with its 95% interval."""
    rows = []
    for c in classes:
        row = {"label": c.label}
        for name in ("sensitivity", "specificity"):
            proportion = getattr(c, name)
            interval = proportion.interval
            row[name] = None if interval is None else {
                "x": round(INTERVAL_WIDTH * proportion.value), "low": round(INTERVAL_WIDTH * interval[0]), "high": round(INTERVAL_WIDTH * interval[1]),
                "too_few": proportion.too_few, "title": f"{name} {proportion.k}/{proportion.n}",
            }
        rows.append(row)
    return rows
