"""The engine end to end on a small random pack: both memory paths, heatmaps, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.inference.engine import DEMONSTRATION_WARNING, Engine
from app.inference.ensemble import Ensemble
from app.inference.errors import InputError, QualityGateRefusal
from app.inference.io.image import LoadedImage
from app.inference.packs.manifest import read_manifest
from app.inference.preprocess import PreprocessSpec, prepare, to_batch
from tests.shared_data import CLASSES_4, a_radiograph, requires_shared


@pytest.fixture(scope="module")
def engine(tiny_pack_dir: Path) -> Engine:
    return Engine.for_pack(read_manifest(tiny_pack_dir), device="cpu")


def test_resident_and_streamed_paths_give_the_same_numbers(tiny_pack_dir: Path) -> None:
    pack = read_manifest(tiny_pack_dir)
    resident = Ensemble(pack, device="cpu", memory_budget_mb=4096)
    streamed = Ensemble(pack, device="cpu", memory_budget_mb=1)
    assert resident.resident and not streamed.resident
    rng = np.random.default_rng(0)
    images = [prepare(rng.uniform(0, 1, (120, 100)).astype(np.float32), pack.preprocessing) for _ in range(2)]
    batch = to_batch(images, 0.5, 0.25)
    a = resident.run(batch, heatmap=True)
    b = streamed.run(batch, heatmap=True)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.logits, y.logits, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(x.cam, y.cam, atol=1e-5)
        assert x.cam.shape == (2, 96, 96)
        assert 0.0 <= x.cam.min() and x.cam.max() <= 1.0


def test_heatmaps_are_optional(engine: Engine) -> None:
    image = LoadedImage(pixels=np.random.default_rng(1).uniform(0, 1, (96, 96)).astype(np.float32), source_format="png", bits=8)
    runs = engine.ensemble.run(to_batch(prepare(image.pixels, engine.pack.preprocessing), 0.5, 0.25), heatmap=False)
    assert all(r.cam is None for r in runs)


@requires_shared
def test_it_analyses_a_real_radiograph(engine: Engine, tmp_path: Path) -> None:
    analysis = engine.analyse(a_radiograph())
    result = analysis.result
    assert result["classes"] == CLASSES_4
    assert result["pack"] == {"name": "tiny-test", "version": "0.0.1", "validated": False, "intended_use": result["pack"]["intended_use"]}
    assert result["demonstration"] is True
    assert result["warning"] == DEMONSTRATION_WARNING
    assert result["device"].startswith("CPU")
    consensus = result["consensus"]
    assert consensus["finding"] in CLASSES_4
    assert sum(consensus["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert consensus["members"] == 3
    assert len(result["members"]) == 3
    for member in result["members"]:
        assert sum(member["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["quality_gate"]["passed"] is True
    assert set(result["timings"]) >= {"read", "quality_gate", "preprocess", "ensemble", "total"}
    assert analysis.heatmap is not None and analysis.heatmap.shape == analysis.display.shape
    images = analysis.save_images(tmp_path)
    with Image.open(images["heatmap"]) as heat:
        assert heat.mode == "RGBA"
        assert heat.size == (analysis.display.shape[1], analysis.display.shape[0])
    with Image.open(images["overlay"]) as overlay:
        assert overlay.mode == "RGB"


def test_it_refuses_noise_instead_of_diagnosing_it(engine: Engine, tmp_path: Path) -> None:
    noise = np.random.default_rng(2).integers(0, 256, (300, 300), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    with pytest.raises(QualityGateRefusal) as refusal:
        engine.analyse(tmp_path / "noise.png")
    assert refusal.value.code == "noise"


def test_it_passes_input_errors_through(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        engine.analyse(tmp_path / "empty.dcm")


def test_preprocessing_contract_is_enforced() -> None:
    from app.inference.errors import PreprocessingContractError

    with pytest.raises(PreprocessingContractError, match=r"\[0, 1\]"):
        prepare(np.full((50, 50), 2.0, dtype=np.float32), PreprocessSpec(64))
    with pytest.raises(PreprocessingContractError, match="float32"):
        prepare(np.zeros((50, 50), dtype=np.float64), PreprocessSpec(64))
    with pytest.raises(PreprocessingContractError, match="NaN"):
        prepare(np.full((50, 50), np.nan, dtype=np.float32), PreprocessSpec(64))
