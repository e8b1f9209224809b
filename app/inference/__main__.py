"""Command line: analyse radiographs without the app, printing JSON.

    python -m app.inference predict FILE [FILE...] [--pack DIR] [--no-heatmap] [--device cpu|cuda]
                                                   [--save-images DIR] [--site-profile PROFILE.json]
    python -m app.inference packs                  list installed packs and the active one
    python -m app.inference import-pack PATH [--activate]   install a pack folder or .zip (verified)
    python -m app.inference activate NAME [VERSION] make an installed pack the active one

Exit status: 0 if every file was analysed, 1 if any was refused or failed, 2 on a pack problem.
Each file gives one JSON object: {"file", "status": "ok"|"refused"|"error", ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.platform import datadir
from app.inference.errors import InputError, ModelPackError, QualityGateRefusal


def _engine(args: argparse.Namespace):  # noqa: ANN202
    from app.inference.engine import Engine
    from app.inference.packs.manifest import read_manifest
    from app.inference.packs.registry import select_active

    pack = read_manifest(args.pack) if args.pack else select_active(datadir.resolve(args.data_dir).model_packs)
    return Engine.for_pack(pack, device=args.device, memory_budget_mb=args.memory_budget_mb, warm=False, backend=args.backend)


def predict(args: argparse.Namespace) -> int:
    try:
        engine = _engine(args)
    except ModelPackError as exc:
        print(json.dumps({"status": "error", "error": str(exc)}), file=sys.stderr)
        return 2
    profile = None
    if args.site_profile:
        from app.inference.site_profile import SiteProfile, SiteProfileError

        try:
            profile = SiteProfile.read(args.site_profile)
            profile.check_pack(engine.pack.name, engine.pack.version, engine.pack.classes)
        except SiteProfileError as exc:
            print(json.dumps({"status": "error", "error": str(exc)}), file=sys.stderr)
            return 2
    failures = 0
    results: list[dict[str, Any]] = []
    for file in args.files:
        entry: dict[str, Any] = {"file": str(file)}
        try:
            analysis = engine.analyse(file, heatmap=not args.no_heatmap, site_profile=profile)
            entry.update({"status": "ok", **analysis.result})
            if args.save_images:
                images = analysis.save_images(Path(args.save_images), stem=Path(file).stem)
                entry["images"] = {k: str(v) for k, v in images.items()}
        except QualityGateRefusal as exc:
            failures += 1
            entry.update({"status": "refused", "reason": str(exc), "code": exc.code})
        except InputError as exc:
            failures += 1
            entry.update({"status": "error", "error": str(exc)})
        results.append(entry)
        if args.jsonl:
            print(json.dumps(entry), flush=True)
    if not args.jsonl:
        print(json.dumps(results, indent=2))
    return 1 if failures else 0


def packs(args: argparse.Namespace) -> int:
    from app.inference.packs.registry import installed, select_active

    imported = datadir.resolve(args.data_dir).model_packs
    found, problems = installed(imported)
    try:
        active = select_active(imported).root
    except ModelPackError as exc:
        active, problems = None, [*problems, str(exc)]
    print(json.dumps({"packs": [p.summary() | {"active": p.root == active} for p in found], "problems": problems}, indent=2))
    return 0


def import_pack_command(args: argparse.Namespace) -> int:
    from app.inference.packs.install import import_pack

    try:
        pack = import_pack(args.source, datadir.resolve(args.data_dir).model_packs, activate=args.activate)
    except ModelPackError as exc:
        print(f"Refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"installed": pack.summary(), "active": args.activate}, indent=2))
    return 0


def activate_command(args: argparse.Namespace) -> int:
    from app.inference.packs.registry import installed, set_active

    imported = datadir.resolve(args.data_dir).model_packs
    matches = [p for p in installed(imported)[0] if p.name == args.name and (args.version is None or p.version == args.version)]
    if len(matches) != 1:
        print(f"Refused: {len(matches)} installed packs match {args.name} {args.version or ''}".rstrip(), file=sys.stderr)
        return 2
    set_active(imported, matches[0])
    print(json.dumps({"active": matches[0].summary()}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.inference", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="data directory (for imported packs)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="analyse files and print JSON")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--pack", type=Path, help="model pack folder (default: the active pack)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto", help="auto: torch on a GPU, ONNX Runtime on the CPU when the pack has exports")
    p.add_argument("--no-heatmap", action="store_true")
    p.add_argument("--save-images", help="folder for display/heatmap/overlay PNGs")
    p.add_argument("--memory-budget-mb", type=int, default=6144)
    p.add_argument("--jsonl", action="store_true", help="one JSON object per line, as each file finishes")
    p.add_argument("--site-profile", type=Path, help="a clinic's site profile (python -m app.analysis.site_calibration fit) to apply")
    p.set_defaults(func=predict)
    sub.add_parser("packs", help="list installed packs").set_defaults(func=packs)
    i = sub.add_parser("import-pack", help="install a pack folder or .zip after verifying it")
    i.add_argument("source", type=Path)
    i.add_argument("--activate", action="store_true")
    i.set_defaults(func=import_pack_command)
    a = sub.add_parser("activate", help="make an installed pack the active one")
    a.add_argument("name")
    a.add_argument("version", nargs="?")
    a.set_defaults(func=activate_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
