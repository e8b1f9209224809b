"""Install a model pack (a folder or a .zip) into the data directory, verified before it is used.

Steps: unpack into a private staging folder (zip entries checked: no absolute paths, no '..', no
links, bounded sizes, each entry written in a stream that stops at its declared size; a folder
pack may hold only regular files and folders, never links) -> manifest schema (a name and version
that cannot name a path) -> every checksum -> a test inference on the built-in phantom -> move
into place atomically, inside the packs folder -> optionally make it the active pack. Nothing is
left behind when any step fails (and a staging folder left by a killed import is removed by the
next import and at start-up), and earlier packs stay installed so an administrator can switch back.
"""

from __future__ import annotations

import os
import shutil
import stat
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
# Weights and ONNX exports barely compress (about 1.1:1); an entry that claims to expand far more
# than this is a decompression bomb, refused before anything is written.
MAX_COMPRESSION_RATIO = 20
COMPRESSION_CHECK_BYTES = 2**20
STAGING_PREFIX = ".staging-"
CHUNK = 2**20


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
                if name.is_absolute() or ".." in name.parts or "\\" in entry.filename or "\x00" in entry.filename:
                    raise ModelPackError(f"the archive entry {entry.filename!r} points outside the pack folder")
                if (entry.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ModelPackError(f"the archive entry {entry.filename!r} is a symbolic link")
                if entry.file_size > COMPRESSION_CHECK_BYTES and entry.file_size > MAX_COMPRESSION_RATIO * max(entry.compress_size, 1):
                    raise ModelPackError(f"the archive entry {entry.filename!r} expands {entry.file_size // max(entry.compress_size, 1)} times: "
                                         "not a model pack (a decompression bomb?)")
            for entry in entries:
                _extract_entry(zf, entry, target)
    except zipfile.BadZipFile as exc:
        raise ModelPackError(f"{archive.name} is not a readable zip archive ({exc})") from exc


def _extract_entry(zf: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path) -> None:
    """Write one entry, never more bytes than its header declares (a lying header is refused)."""
    path = target.joinpath(*PurePosixPath(entry.filename).parts)
    if entry.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(entry) as source, open(path, "xb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > entry.file_size:
                raise ModelPackError(f"the archive entry {entry.filename!r} holds more than the {entry.file_size} bytes it declares")
            out.write(chunk)


def _check_folder(source: Path) -> None:
    """A folder pack holds regular files and folders only: a link could copy any file of this
    computer into the pack (and the pack's files are served to every user)."""
    count = 0
    for current, folders, files in os.walk(source, followlinks=False):
        for name in folders + files:
            mode = os.lstat(os.path.join(current, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                raise ModelPackError(f"{os.path.relpath(os.path.join(current, name), source)!r} in the pack folder is {kind}; a pack holds only files and folders")
            count += 1
            if count > MAX_ENTRIES:
                raise ModelPackError(f"the folder holds more than {MAX_ENTRIES} entries; a model pack has far fewer")


def remove_stale_staging(imported_dir: Path) -> int:
    """Staging folders of imports that were killed (only one import runs at a time: the worker's)."""
    stale = [p for p in imported_dir.glob(STAGING_PREFIX + "*") if p.is_dir() and not p.is_symlink()] if imported_dir.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


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
    remove_stale_staging(imported_dir)
    staging = imported_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        if source.is_symlink():
            raise ModelPackError(f"{source.name} is a symbolic link; choose the pack itself")
        if source.is_file():
            staging.mkdir()
            _safe_extract(source, staging)
        else:
            _check_folder(source)
            shutil.copytree(source, staging, symlinks=True)
            _check_folder(staging)  # a link made between the check and the copy is copied as a link: refuse it too
        root = _pack_root(staging)
        pack = read_manifest(root)
        verify(pack)
        smoke_test(pack)
        final = imported_dir / f"{pack.name}-{pack.version}"
        if final.resolve().parent != imported_dir.resolve():
            raise ModelPackError("the pack's name and version do not make a folder inside the packs folder", pack=pack.name)
        if final.exists() or any(p.name == pack.name and p.version == pack.version for p in pack_registry.installed(imported_dir)[0]):
            raise ModelPackError(f"{pack.label} is already installed", pack=pack.name)
        root.replace(final)
        installed = read_manifest(final)
        if activate:
            pack_registry.set_active(imported_dir, installed)
        return installed
    finally:
        shutil.rmtree(staging, ignore_errors=True)
