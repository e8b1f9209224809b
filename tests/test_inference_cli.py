"""python -m app.inference predict FILE... prints JSON and exits non-zero on any refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.shared_data import REPO, a_radiograph, requires_shared


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.inference", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@requires_shared
def test_it_predicts_a_real_radiograph_and_refuses_noise(tiny_pack_dir: Path, tmp_path: Path) -> None:
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)).save(noise)
    done = run_cli("predict", str(a_radiograph()), str(noise), "--pack", str(tiny_pack_dir), "--save-images", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr
    results = json.loads(done.stdout)
    ok, refused = results
    assert ok["status"] == "ok"
    assert ok["pack"]["name"] == "tiny-test"
    assert ok["consensus"]["agreement_text"].endswith("of 3 models")
    assert Path(ok["images"]["overlay"]).is_file()
    assert refused["status"] == "refused"
    assert refused["code"] == "noise"


def test_it_reports_a_missing_pack(tmp_path: Path) -> None:
    done = run_cli("predict", "x.png", "--pack", str(tmp_path))
    assert done.returncode == 2
    assert "no manifest.json" in done.stderr


def test_it_reports_an_unreadable_file(tiny_pack_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    done = run_cli("predict", str(tmp_path / "empty.png"), "--pack", str(tiny_pack_dir), "--jsonl")
    assert done.returncode == 1
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line == {"file": str(tmp_path / "empty.png"), "status": "error", "error": "The file is empty (0 bytes)."}
