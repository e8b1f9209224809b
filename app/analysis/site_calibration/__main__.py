"""Command line: fit a site profile from a list of films and radiologists' findings, or measure
what a profile fitted on part of a clinic's films does on the rest.

    python -m app.analysis.site_calibration fit --labels LABELS.csv --out PROFILE.json
        --target COVID-19 [--sensitivity 0.9] [--pack DIR] [--cache FILE.npz]
    python -m app.analysis.site_calibration evaluate --labels LABELS.csv --target COVID-19
        [--sensitivity 0.9] [--fit-share 0.5] [--seed 0] [--pack DIR] [--cache FILE.npz] [--out RESULT.json]

LABELS.csv has the columns `file,finding` (paths relative to the CSV's folder; the finding one of
the pack's classes or "Other abnormality") and optionally `patient` (films of one patient stay on
one side of the evaluate split). Every film is analysed with the pack (no heatmap); films the
quality gate refuses are counted and left out. --cache keeps the pack's probabilities per film so
a second run does not analyse again. The profile file is imported in the app by an administrator
(Site calibration page, or `manage.py import_site_profile PROFILE.json`) or applied with
`python -m app.inference predict --site-profile PROFILE.json`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.analysis.site_calibration import fitting
from app.inference.errors import InputError, ModelPackError, QualityGateRefusal


def read_labels(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"file", "finding"} <= set(rows[0]):
        raise SystemExit(f"{path}: the labels file needs the columns file,finding (found {list(rows[0]) if rows else 'no rows'}).")
    for row in rows:
        row["path"] = str((path.parent / row["file"]).resolve())
    return rows


def analyse_films(rows: list[dict[str, str]], pack_dir: Path | None, cache: Path | None) -> tuple[Any, list[dict[str, Any]]]:
    """The pack's mean probabilities (and familiarity distance) for each film, from the cache where
    it has them; refused or unreadable films are returned with their reason instead."""
    from app.inference.engine import Engine
    from app.inference.packs.manifest import read_manifest
    from app.inference.packs.registry import select_active
    from app.platform import datadir

    pack = read_manifest(pack_dir) if pack_dir else select_active(datadir.resolve(None).model_packs)
    key = f"{pack.name}@{pack.version}"
    cached: dict[str, Any] = {}
    if cache and cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        cached = stored.get(key, {})
    engine = None
    started, done = time.perf_counter(), 0
    for row in rows:
        name = hashlib.sha256(row["path"].encode()).hexdigest()[:16]
        if name not in cached:
            if engine is None:
                engine = Engine.for_pack(pack, warm=False)
            try:
                result = engine.analyse(row["path"], heatmap=False).result
                cached[name] = {"probabilities": [result["consensus"]["probabilities"][c] for c in pack.classes],
                                "familiarity": (result.get("familiarity") or {}).get("distance")}
            except QualityGateRefusal as exc:
                cached[name] = {"refused": exc.code}
            except InputError as exc:
                cached[name] = {"error": str(exc)}
            done += 1
            if done % 50 == 0:
                print(f"analysed {done} films ({done / (time.perf_counter() - started):.1f}/s)", file=sys.stderr)
        row.update(cached[name])
    if cache:
        stored = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else {}
        stored[key] = cached
        cache.write_text(json.dumps(stored), encoding="utf-8")
    return pack, rows


def usable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if "probabilities" in r and r["finding"] != "Not assessable"]


def _pack_familiarity_threshold(pack: Any) -> float | None:
    return pack.familiarity.threshold if pack.familiarity is not None else None


def fit_command(args: argparse.Namespace) -> int:
    pack, rows = analyse_films(read_labels(args.labels), args.pack, args.cache)
    reads = usable(rows)
    try:
        proposal = fitting.propose(
            np.array([r["probabilities"] for r in reads]), [r["finding"] for r in reads], list(pack.classes), args.target, args.sensitivity,
            pack_name=pack.name, pack_version=pack.version, name=args.name,
            familiarity_distances=[r["familiarity"] for r in reads if r.get("familiarity") is not None],
            pack_familiarity_threshold=_pack_familiarity_threshold(pack),
        )
    except (fitting.NotEnoughReads, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    proposal.profile.write(args.out)
    print(json.dumps({"films": len(rows), "used": len(reads), "left_out": _left_out(rows), **proposal.evidence()}, indent=2))
    return 0


def _left_out(rows: list[dict[str, Any]]) -> dict[str, int]:
    reasons: dict[str, int] = {}
    for r in rows:
        if r.get("refused"):
            reason = f"refused: {r['refused']}"
        elif "error" in r:
            reason = "unreadable"
        else:
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def split(reads: list[dict[str, Any]], share: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fit and held-out halves: per finding, patients (or films) shuffled and divided."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for finding in sorted({r["finding"] for r in reads}):
        group = [r for r in reads if r["finding"] == finding]
        patients = sorted({r.get("patient") or r["path"] for r in group})
        rng.shuffle(patients)
        chosen = set(patients[: round(len(patients) * share)])
        for r in group:
            (fit if (r.get("patient") or r["path"]) in chosen else held).append(r)
    return fit, held


def evaluate_command(args: argparse.Namespace) -> int:
    from app.inference.site_profile import SiteProfile

    pack, rows = analyse_films(read_labels(args.labels), args.pack, args.cache)
    reads = usable(rows)
    fit_reads, held = split(reads, args.fit_share, args.seed)
    proposal = fitting.propose(
        np.array([r["probabilities"] for r in fit_reads]), [r["finding"] for r in fit_reads], list(pack.classes), args.target, args.sensitivity,
        pack_name=pack.name, pack_version=pack.version, seed=args.seed,
    )
    profile: SiteProfile = proposal.profile
    probabilities = np.array([r["probabilities"] for r in held])
    truths = [r["finding"] for r in held]
    adjusted = profile.adjust(probabilities)
    after = [pack.classes[int(np.argmax(row))] for row in adjusted]
    before = [pack.classes[int(i)] for i in probabilities.argmax(axis=1)]
    report = {
        "pack": f"{pack.name} {pack.version}", "labels": str(args.labels.name), "target": args.target, "sensitivity_asked": args.sensitivity,
        "films": len(rows), "used": len(reads), "left_out": _left_out(rows), "fit_reads": proposal.counts, "held_out_reads": len(held),
        "held_out_by_finding": {f: truths.count(f) for f in sorted(set(truths))},
        "scorer": profile.evidence.get("scorer"), "threshold": profile.threshold,
        "held_out_before": fitting.figures(before, truths, list(pack.classes), args.target)["target"],
        "held_out_after": fitting.figures(after, truths, list(pack.classes), args.target)["target"],
        "fit_half_cross_validated": {"before": proposal.before["target"], "after": proposal.after["target"]},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.analysis.site_calibration", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fit", "evaluate"):
        p = sub.add_parser(name)
        p.add_argument("--labels", type=Path, required=True)
        p.add_argument("--target", required=True, help="the class whose sensitivity is the operating point, e.g. COVID-19")
        p.add_argument("--sensitivity", type=float, default=0.9)
        p.add_argument("--pack", type=Path, help="model pack folder (default: the active pack)")
        p.add_argument("--cache", type=Path, help="JSON file keeping each film's probabilities between runs")
        p.add_argument("--seed", type=int, default=0)
    sub.choices["fit"].add_argument("--out", type=Path, required=True)
    sub.choices["fit"].add_argument("--name", default="site profile")
    sub.choices["evaluate"].add_argument("--fit-share", type=float, default=0.5)
    sub.choices["evaluate"].add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        return fit_command(args) if args.command == "fit" else evaluate_command(args)
    except ModelPackError as exc:
        print(f"No usable model pack: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
