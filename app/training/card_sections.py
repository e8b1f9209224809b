"""Model card sections for the checks that are not a labelled evaluation: the stress tests
(app/training/stress_tests.py) and the "unfamiliar film" check (app/training/fit_familiarity.py)."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.1%}"


def stress_tests_section(report: dict[str, Any]) -> list[str]:
    lines = ["### Does it see the lungs or the collection? (app/training/stress_tests.py)", "", report.get("description", ""), ""]
    same = report.get("same_source", {})
    if same:
        lines += [
            "**Pneumonia against normal inside one source** (same hospital, same scanners: only the lungs differ). "
            "Score: 1 − P(Normal); decision: the pack's finding.",
            "",
            "| source | pneumonia films | normal films | AUROC (95% interval) | pneumonia not called Normal | normals called Normal | what pneumonia films were called |",
            "|---|---|---|---|---|---|---|",
        ]
        for source, row in same.items():
            called = ", ".join(f"{k} {_pct(v)}" for k, v in row["pneumonia_findings"].items())
            lines.append(f"| {source} | {row['pneumonia_films']} | {row['normal_films']} | {row['auroc']:.3f} ({row['low']:.3f}–{row['high']:.3f}) | "
                         f"{_pct(row['pneumonia_not_called_normal'])} | {_pct(row['normals_called_normal'])} | {called} |")
        lines.append("")
    rows = report.get("resolution", [])
    if rows:
        sizes = sorted({r["short_side"] for r in rows}, reverse=True)
        lines += [
            f"**Resolution sweep**: held-out films reduced to a short side of N px (only where the original is at least that large), "
            f"share called COVID-19. The pack alone / the app, which refuses films under {report.get('minimum_short_side')} px as too small to read.",
            "",
            "| label | source | " + " | ".join(f"{s} px" for s in sizes) + " |",
            "|---|---|" + "---|" * len(sizes),
        ]
        for (label, source) in sorted({(r["label"], r["source"]) for r in rows}):
            cells = []
            for size in sizes:
                row = next((r for r in rows if r["label"] == label and r["source"] == source and r["short_side"] == size), None)
                cells.append("–" if row is None else f"{_pct(row['pack_called_covid'])} / {'refused' if row['refused_too_small'] else _pct(row['app_called_covid'])}")
            lines.append(f"| {label} | {source} | " + " | ".join(cells) + " |")
        lines.append("")
    crops = report.get("crops", {})
    if crops:
        lines += ["**Part-films through the whole app** (quality gate, pack, review rules):", "", "| cut | films | refused or flagged | outcomes |", "|---|---|---|---|"]
        for name, row in crops.items():
            outcomes = ", ".join(f"{k}: {v}" for k, v in row["outcomes"].items())
            lines.append(f"| {name.replace('_', ' ')} | {row['films']} | {_pct(row['refused_or_flagged'])} | {outcomes} |")
        lines.append("")
    return lines


def familiarity_section(report: dict[str, Any]) -> list[str]:
    lines = [
        "### Unfamiliar films (app/training/fit_familiarity.py)",
        "",
        f"A result needs review, \"this film is unlike those the pack was trained on\", when the film's distance exceeds {report['threshold']}. "
        f"Method: {report['method']}.",
        "",
        "Held-out test films of the training sources flagged: " + ", ".join(f"{s} {_pct(v)}" for s, v in report["test_flagged"].items()) + ".",
        "",
    ]
    if report.get("external_flagged"):
        lines += ["Films of collections never trained on flagged: " + ", ".join(
            f"{s} {_pct(v)} of {report['external_counts'].get(s, '?')}" for s, v in report["external_flagged"].items()) + ".", ""]
    loso = report.get("leave_one_source_out", [])
    if loso:
        lines += ["Leave one source out (reference and threshold fitted without it):", "", "| left out | its films | flagged | held-out films of the other sources flagged |", "|---|---|---|---|"]
        for row in loso:
            lines.append(f"| {row['left_out']} | {row['films']} | {_pct(row['left_out_flagged'])} | {_pct(row['held_out_training_sources_flagged'])} |")
        lines.append("")
    return lines


SECTIONS = {"stress_tests": stress_tests_section, "familiarity": familiarity_section}
