"""Which model packs are installed, and which one is active.

Packs live in two places: `bundled_models/` in the (read-only) install folder, and
`model_packs/` in the data directory for packs a site administrator imported later. The active
pack is, in order: the CXR_MODEL_PACK environment variable (a pack name), the choice recorded in
<data dir>/model_packs/active.json, else the bundled pack with the highest version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.inference.errors import ModelPackError
from app.inference.packs.manifest import ModelPack, discover
from app.platform.install_dir import BUNDLED_MODELS_DIR

ACTIVE_FILE = "active.json"
ENV_VAR = "CXR_MODEL_PACK"


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in version.replace("-", ".").split("."))


def pack_folders(imported_dir: Path | None) -> list[Path]:
    return [folder for folder in (imported_dir, BUNDLED_MODELS_DIR) if folder is not None]


def installed(imported_dir: Path | None) -> tuple[list[ModelPack], list[str]]:
    return discover(pack_folders(imported_dir))


def active_choice(imported_dir: Path | None) -> dict[str, str] | None:
    if imported_dir is None:
        return None
    try:
        choice = json.loads((imported_dir / ACTIVE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return choice if isinstance(choice, dict) and "name" in choice else None


def set_active(imported_dir: Path, pack: ModelPack, previous: ModelPack | None = None) -> None:
    """Record the active pack (and the one it replaces, for a roll-back). Workers compare this
    file with the pack they hold before each job and switch between jobs (engine_service)."""
    imported_dir.mkdir(parents=True, exist_ok=True)
    tmp = imported_dir / (ACTIVE_FILE + ".tmp")
    choice: dict[str, object] = {"name": pack.name, "version": pack.version, "path": str(pack.root)}
    if previous is not None and (previous.name, previous.version) != (pack.name, pack.version):
        choice["previous"] = {"name": previous.name, "version": previous.version}
    tmp.write_text(json.dumps(choice), encoding="utf-8")
    os.replace(tmp, imported_dir / ACTIVE_FILE)


def find(imported_dir: Path | None, name: str, version: str) -> ModelPack:
    for pack in installed(imported_dir)[0]:
        if pack.name == name and pack.version == version:
            return pack
    raise ModelPackError(f"the model pack {name} {version} is not installed")


def select_active(imported_dir: Path | None, requested: str | None = None) -> ModelPack:
    packs, problems = installed(imported_dir)
    requested = requested or os.environ.get(ENV_VAR) or None
    choice = active_choice(imported_dir)
    if requested:
        matches = [p for p in packs if p.name == requested]
        if not matches:
            raise ModelPackError(f"the requested model pack {requested!r} is not installed")
        return max(matches, key=lambda p: _version_key(p.version))
    if choice:
        for pack in packs:
            if pack.name == choice["name"] and pack.version == choice.get("version", pack.version):
                return pack
    if not packs:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise ModelPackError(f"no model pack is installed{detail}")
    bundled = [p for p in packs if BUNDLED_MODELS_DIR in p.root.parents] or packs
    return max(bundled, key=lambda p: _version_key(p.version))
