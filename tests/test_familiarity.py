"""The "unfamiliar film" check: a pack carries it, the app verifies it, and a film unlike the
pack's training films gets a result that needs review, with that reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.inference.engine import Engine
from app.inference.errors import ModelPackError
from app.inference.familiarity import FamiliarityReference
from app.inference.io.files import load_image
from app.inference.io.image import LoadedImage
from app.inference.packs.manifest import read_manifest, verify
from app.platform.checksums import sha256_of
from app.training.fit_familiarity import NETWORK_FILE, REFERENCE_FILE, export_network, fit_reference
from tests.shared_data import cxr_files, requires_shared


def test_the_distance_is_small_near_a_training_group_and_large_far_from_all() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (200, 12)) + 5
    b = rng.normal(0, 1, (200, 12)) - 5
    reference = fit_reference(np.concatenate([a, b]), ["a"] * 200 + ["b"] * 200)
    near = reference.distances(np.stack([a.mean(axis=0), b.mean(axis=0)]))
    far = reference.distances(np.full((1, 12), 40.0))
    assert near.max() < 2 and far[0] > 10 * near.max()
    assert set(reference.groups) == {"a", "b"}


@pytest.fixture(scope="module")
def familiar_pack(tiny_pack_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pack with a familiarity check fitted on a few real films of one collection."""
    if not cxr_files(limit=1):
        pytest.skip("needs the public datasets")
    folder = tmp_path_factory.mktemp("familiar") / "pack"
    shutil.copytree(tiny_pack_dir, folder)
    export_network(folder / NETWORK_FILE)
    import onnxruntime as ort

    from app.inference.preprocess import prepare, to_batch

    pack = read_manifest(folder)
    session = ort.InferenceSession(str(folder / NETWORK_FILE), providers=["CPUExecutionProvider"])
    films = [load_image(f).pixels for f in cxr_files(limit=60, step=7)]
    batch = to_batch([prepare(p, pack.preprocessing) for p in films], pack.members[0].mean, pack.members[0].std)
    stats = session.run(["style"], {"image": batch})[0]
    reference = fit_reference(stats, ["cxr"] * len(stats))
    reference.save(folder / REFERENCE_FILE)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["familiarity"] = {
        "network": NETWORK_FILE, "network_sha256": sha256_of(folder / NETWORK_FILE),
        "reference": REFERENCE_FILE, "reference_sha256": sha256_of(folder / REFERENCE_FILE),
        "threshold": float(np.percentile(reference.distances(stats), 95)),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@requires_shared
def test_a_film_unlike_the_training_films_needs_review_with_the_reason(familiar_pack: Path) -> None:
    engine = Engine.for_pack(read_manifest(familiar_pack), warm=False, backend="torch")
    film = load_image(cxr_files(limit=200, step=7)[-1]).pixels  # one of the collection, not fitted on
    familiar = engine.analyse_image(LoadedImage(pixels=film, source_format="png", bits=8), heatmap=False).result
    assert familiar["familiarity"]["distance"] < 2 * familiar["familiarity"]["threshold"]

    # The same film as another collection would make it: heavy sensor noise and a hard gamma.
    rng = np.random.default_rng(1)
    odd = np.clip(np.power(film, 2.2) + rng.normal(0, 0.08, film.shape), 0, 1).astype(np.float32)
    odd = cv2.GaussianBlur(odd, (0, 0), 0.6)
    result = engine.analyse_image(LoadedImage(pixels=odd, source_format="png", bits=8), heatmap=False).result
    assert result["familiarity"]["unfamiliar"] is True
    assert result["familiarity"]["distance"] > familiar["familiarity"]["distance"]
    assert result["consensus"]["needs_review"] is True
    assert "this film is unlike those the pack was trained on" in result["consensus"]["review_reasons"]


@requires_shared
def test_a_damaged_familiarity_file_makes_the_pack_refused(familiar_pack: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(familiar_pack, damaged)
    with (damaged / REFERENCE_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelPackError, match="familiarity file 'familiarity.npz' fails its checksum"):
        verify(read_manifest(damaged))
    with pytest.raises(ModelPackError, match="fails its checksum"):
        Engine.for_pack(read_manifest(damaged), warm=False, backend="torch")


def test_a_manifest_with_a_malformed_familiarity_entry_is_refused(tiny_pack_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    shutil.copytree(tiny_pack_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["familiarity"] = {"network": "../../etc/passwd", "network_sha256": "0" * 64, "reference": "f.npz", "reference_sha256": "0" * 64, "threshold": 3}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelPackError, match="plain name inside the pack folder"):
        read_manifest(folder)
    manifest["familiarity"] = {**manifest["familiarity"], "network": "f.onnx", "threshold": -1}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelPackError, match="threshold must be a positive number"):
        read_manifest(folder)
    assert FamiliarityReference  # the class the reference file is read into
