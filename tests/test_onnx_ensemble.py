"""The CPU path on ONNX Runtime gives the torch path's answers, and refuses what it cannot trust."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.inference.engine import Engine, choose_backend
from app.inference.errors import ModelPackError
from app.inference.packs.manifest import read_manifest
from app.inference.onnx_ensemble import OnnxEnsemble
from app.inference.sample import chest_phantom
from app.platform.install_dir import BUNDLED_MODELS_DIR
from app.training.export_onnx import export_pack
from app.inference.packs.writer import MemberToWrite, write_pack
from app.inference.preprocess import PreprocessSpec
from tests.shared_data import cxr_files, requires_shared

BUNDLED = BUNDLED_MODELS_DIR / "cxr-4class-lite"


@pytest.fixture(scope="module")
def engines() -> tuple[Engine, Engine]:
    pack = read_manifest(BUNDLED)
    return Engine.for_pack(pack, backend="torch", warm=False), Engine.for_pack(pack, backend="onnx", warm=False)


def assert_same_answer(torch_engine: Engine, onnx_engine: Engine, path: Path) -> None:
    a = torch_engine.analyse(path, heatmap=True)
    b = onnx_engine.analyse(path, heatmap=True)
    ca, cb = a.result["consensus"], b.result["consensus"]
    assert ca["finding"] == cb["finding"]
    for label, p in ca["probabilities"].items():
        assert abs(p - cb["probabilities"][label]) < 1e-4, (path.name, label)
    assert (ca["agreement"], ca["needs_review"]) == (cb["agreement"], cb["needs_review"])
    assert a.heatmap.shape == b.heatmap.shape
    assert float(np.abs(a.heatmap - b.heatmap).max()) < 1e-3, path.name


def test_it_gives_the_torch_answer_and_heatmap_on_the_phantom(engines: tuple[Engine, Engine], tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "phantom.png"
    cv2.imwrite(str(path), (chest_phantom(400) * 255).astype(np.uint8))
    torch_engine, onnx_engine = engines
    a = torch_engine.analyse(path, heatmap=True, override_gate=True)
    b = onnx_engine.analyse(path, heatmap=True, override_gate=True)
    assert a.result["consensus"]["finding"] == b.result["consensus"]["finding"]
    assert float(np.abs(a.heatmap - b.heatmap).max()) < 1e-3
    assert "ONNX Runtime" in b.result["device"] and "ONNX" not in a.result["device"]


@requires_shared
def test_it_gives_the_torch_answer_and_heatmap_on_real_films(engines: tuple[Engine, Engine]) -> None:
    for path in cxr_files(limit=8, step=97):
        assert_same_answer(*engines, path)


def test_auto_chooses_onnx_on_the_cpu_only_when_every_member_has_an_export(tmp_path: Path) -> None:
    bundled = read_manifest(BUNDLED)
    assert choose_backend(bundled, "auto", "cpu") == "onnx"
    assert choose_backend(bundled, "torch", "cpu") == "torch"
    assert choose_backend(bundled, "auto", "cuda:0") == "torch"  # a named GPU stays on torch
    pack = read_manifest(write_pack(tmp_path / "p", name="p", version="1", classes=["A", "B"], members=[MemberToWrite("r", "resnet18")], preprocessing=PreprocessSpec(64)))
    assert choose_backend(pack, "auto", None) == "torch"
    with pytest.raises(ModelPackError, match="have no ONNX export"):
        Engine.for_pack(pack, backend="onnx", warm=False)


def test_an_onnx_file_that_fails_its_checksum_is_refused(tmp_path: Path) -> None:
    copy = shutil.copytree(BUNDLED, tmp_path / "pack")
    with (copy / "lite0-b.onnx").open("r+b") as handle:
        handle.seek(5000)
        byte = handle.read(1)
        handle.seek(5000)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ModelPackError, match="member 'lite0-b'.*lite0-b.onnx.*fails its checksum"):
        OnnxEnsemble(read_manifest(copy))


def test_the_export_tool_writes_checked_exports_and_refuses_what_it_cannot_export(tmp_path: Path) -> None:
    spec = PreprocessSpec(64)
    folder = write_pack(tmp_path / "ok", name="ok", version="1", classes=["A", "B", "C"], members=[MemberToWrite("r1", "resnet18"), MemberToWrite("r2", "resnet18")], preprocessing=spec)
    report = export_pack(folder)
    assert set(report) == {"r1", "r2"} and all(r["max_logit_difference"] < 1e-3 for r in report.values())
    pack = read_manifest(folder)
    assert [m.onnx for m in pack.members] == ["r1.onnx", "r2.onnx"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "r1.onnx", "r1.pt", "r2.onnx", "r2.pt"]  # no scratch left
    runs = OnnxEnsemble(pack).run(np.zeros((2, 3, 64, 64), np.float32), heatmap=True)
    assert runs[0].logits.shape == (2, 3) and runs[0].cam.shape == (2, 64, 64)

    other = write_pack(tmp_path / "no", name="no", version="1", classes=["A", "B"], members=[MemberToWrite("m", "mobilenet_v3_small")], preprocessing=spec)
    before = (other / "manifest.json").read_text()
    with pytest.raises(ValueError, match="mobilenet_v3_small has no plain linear head"):
        export_pack(other)
    assert (other / "manifest.json").read_text() == before
    assert sorted(p.name for p in other.iterdir()) == ["m.pt", "manifest.json"]
    assert "onnx" not in json.loads(before)["members"][0]


def test_the_quality_gate_embeds_alike_on_both_and_refuses_a_damaged_export(tmp_path: Path) -> None:
    from app.inference import quality_gate

    gate = quality_gate.QualityGate(onnx=True)
    assert isinstance(gate.embedder, quality_gate.OnnxEmbedder)
    torch_embedder = quality_gate.QualityGate().embedder
    rng = np.random.default_rng(1)
    images = [chest_phantom(512), rng.uniform(0, 1, (300, 200)).astype(np.float32)]
    assert float(np.abs(gate.embedder.embed(images) - torch_embedder.embed(images)).max()) < 1e-3

    damaged = tmp_path / "gate_backbone.onnx"
    data = bytearray(quality_gate.BACKBONE_ONNX_FILE.read_bytes())
    data[6000] ^= 1
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelPackError, match="gate_backbone.onnx fails its checksum"):
        quality_gate.OnnxEmbedder(damaged, quality_gate.backbone_onnx_sha256())
