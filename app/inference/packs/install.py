"""Install a model pack (a folder or a .zip) into the data directory, verified before it is used.

Steps: unpack into a private staging folder (zip entries checked: no absolute paths, no '..', no
links, bounded sizes) -> manifest schema -> every checksum -> a test inference on the built-in
phantom -> move into place atomically -> optionally make it the active pack. Nothing is left
behind when any step fails, and earlier packs stay installed so an administrator can switch back.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from typing import TYPE_CHECKING

from app.inference.packs import registry as pack_registry
from app.inference.onnx_ensemble import OnnxEnsemble
from app.inference.runtimes import NEEDS_ONNX_EXPORTS, onnx_available, torch_installed
from app.inference.errors import ModelPackError
from app.inference.packs.manifest import MANIFEST, ModelPack, read_manifest, verify
from app.inference.preprocess import prepare, to_batch
from app.inference.sample import chest_phantom

if TYPE_CHECKING:
    from app.inference.ensemble import Ensemble

MAX_PACK_BYTES = 2 * 2**30
MAX_ENTRIES = 200


def _safe_extract(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = zf.infolist()
            if len(entries) > MAX_ENTRIES:
                raise ModelPackError(f"the archive holds {len(entries)} entries; a model pack has far fewer")
            if sum(e.file_size for e in entries) > MAX_PACK_BYTES:
                raise ModelPackError("the archive unpacks to more than 2 GB")
            for entry in entries:
                name = PurePosixPath(entry.filename)
                if name.is_absolute() or ".." in name.parts or "\\" in entry.filename:
                    raise ModelPackError(f"the archive entry {entry.filename!r} points outside the pack folder")
                if (entry.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ModelPackError(f"the archive entry {entry.filename!r} is a symbolic link")
            zf.extractall(target)
    except zipfile.BadZipFile as exc:
        raise ModelPackError(f"{archive.name} is not a readable zip archive ({exc})") from exc


def _pack_root(folder: Path) -> Path:
    if (folder / MANIFEST).is_file():
        return folder
    children = [p for p in folder.iterdir() if p.is_dir()]
    if len(children) == 1 and (children[0] / MANIFEST).is_file():
        return children[0]
    raise ModelPackError(f"no {MANIFEST} found at the top of the pack")


def smoke_test(pack: ModelPack) -> dict[str, float]:
    """Run every member on the built-in phantom, on each backend this installation can run it
    on: outputs must be finite probabilities and heatmaps."""
    ensembles: list[Ensemble | OnnxEnsemble] = []  # checksums were verified just before
    if torch_installed():
        from app.inference.ensemble import Ensemble

        ensembles.append(Ensemble(pack, device="cpu", verify=False))
    if all(m.onnx for m in pack.members) and onnx_available():
        ensembles.append(OnnxEnsemble(pack, verify=False))
    if not ensembles:
        raise ModelPackError(NEEDS_ONNX_EXPORTS, pack=pack.name)
    first = pack.members[0]
    batch = to_batch(prepare(chest_phantom(), pack.preprocessing), first.mean, first.std)
    results = {}
    for run in (run for ensemble in ensembles for run in ensemble.run(batch, heatmap=True)):
        probs = run.probabilities[0]
        if probs.shape != (len(pack.classes),) or not np.isfinite(probs).all() or abs(float(probs.sum()) - 1) > 1e-3:
            raise ModelPackError("the test inference gave malformed probabilities", pack=pack.name, member=run.spec.name)
        if run.cam is None or not np.isfinite(run.cam).all():
            raise ModelPackError("the test inference gave no usable heatmap", pack=pack.name, member=run.spec.name)
        results[run.spec.name] = float(probs.max())
    return results


def import_pack(source: Path, imported_dir: Path, *, activate: bool = False) -> ModelPack:
    source = Path(source)
    if not source.exists():
        raise ModelPackError(f"{source} does not exist")
    imported_dir.mkdir(parents=True, exist_ok=True)
    staging = imported_dir / f".staging-{uuid.uuid4().hex}"
    try:
        if source.is_file():
            staging.mkdir()
            _safe_extract(source, staging)
        else:
            shutil.copytree(source, staging, symlinks=False)
        root = _pack_root(staging)
        pack = read_manifest(root)
        verify(pack)
        smoke_test(pack)
        final = imported_dir / f"{pack.name}-{pack.version}"
        if final.exists() or any(p.name == pack.name and p.version == pack.version for p in pack_registry.installed(imported_dir)[0]):
            raise ModelPackError(f"{pack.label} is already installed", pack=pack.name)
        root.replace(final)
        installed = read_manifest(final)
        if activate:
            pack_registry.set_active(imported_dir, installed)
        return installed
    finally:
        shutil.rmtree(staging, ignore_errors=True)
