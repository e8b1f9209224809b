"""Training end to end on a handful of images, one epoch, on the CPU; the engine loads the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from app.inference.engine import Engine
from app.inference.packs.manifest import read_manifest
from app.training import train
from tests.ml_data import write_class_folders
from tests.shared_data import NIH64, requires_shared

pytestmark = pytest.mark.slow


def run_training(data: Path, out: Path, *extra: str) -> Path:
    code = train.main(
        ["--data", str(data), "--out", str(out), "--arch", "mobilenet_v3_small", "--arch", "shufflenet_v2_x0_5",
         "--epochs", "1", "--input-size", "64", "--batch-size", "8", "--name", "smoke", "--version", "0.1", *extra]
    )
    assert code == 0
    return out


def test_it_trains_a_pack_the_engine_loads(tmp_path: Path) -> None:
    data = write_class_folders(tmp_path / "data", per_class=10)
    pack_dir = run_training(data, tmp_path / "pack", "--limitation", "Trained on phantoms for a test.")
    manifest = json.loads((pack_dir / "manifest.json").read_text())
    assert manifest["validated"] is False
    assert manifest["classes"] == ["Lung Opacity", "Normal"]
    assert manifest["provenance"]["split_counts"]["train"]
    assert "test" in manifest["evaluation"]
    assert set(manifest["evaluation"]["test"]["ensemble"]["per_class"]["Normal"]) >= {"sensitivity", "specificity", "ppv", "npv", "auroc"}
    for plot in manifest["evaluation"]["test"]["plots"]:
        assert (pack_dir / "evaluation" / plot).stat().st_size > 1000
    card = (pack_dir / "MODEL_CARD.md").read_text()
    assert "Demonstration model, not for diagnosis" in card
    assert "Trained on phantoms for a test." in card
    engine = Engine.for_pack(read_manifest(pack_dir), device="cpu", warm=False)
    assert len(engine.pack.members) == 2
    assert (pack_dir.parent / "pack.checkpoints" / "mobilenet_v3_small.ckpt").is_file()


def test_it_is_deterministic_for_a_seed_and_resumes(tmp_path: Path) -> None:
    data = write_class_folders(tmp_path / "data", per_class=6)
    a = run_training(data, tmp_path / "a", "--seed", "7")
    b = run_training(data, tmp_path / "b", "--seed", "7")
    for name in ("mobilenet_v3_small", "shufflenet_v2_x0_5"):
        wa = torch.load(a / f"{name}.pt", weights_only=True)
        wb = torch.load(b / f"{name}.pt", weights_only=True)
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    # Resuming a finished run trains nothing more and reproduces the same pack.
    c = run_training(data, tmp_path / "c", "--seed", "7", "--resume", "--checkpoints", str(tmp_path / "a.checkpoints"))
    wc = torch.load(c / "mobilenet_v3_small.pt", weights_only=True)
    wa = torch.load(a / "mobilenet_v3_small.pt", weights_only=True)
    assert all(torch.equal(wa[k], wc[k]) for k in wa)


@requires_shared
def test_it_trains_from_a_csv_manifest(tmp_path: Path) -> None:
    pack_dir = run_training(NIH64 / "manifest.csv", tmp_path / "pack", "--limit", "16", "--patient-id-regex", r"^(\d+)_")
    manifest = json.loads((pack_dir / "manifest.json").read_text())
    assert manifest["classes"] == ["Abnormal", "Normal"]
    # nih-64's own split puts some patients in two splits, so it is re-split by patient.
    assert manifest["provenance"]["split_rule"].startswith("patient-level")
    assert manifest["provenance"]["patients"] == 264
