"""The CPU-only edition: with torch, torchvision and timm impossible to import, the launched app
starts, analyses a real radiograph on ONNX Runtime with its heatmap, and imports a pack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.launched_app import REPO, LaunchedApp, WebClient, wait_for
from tests.shared_data import a_radiograph, requires_shared

pytestmark = pytest.mark.slow

WITHOUT_TORCH = {"PYTHONPATH": str(REPO / "tests" / "without_torch")}
PASSWORD = "a-long-test-password"


@requires_shared
def test_it_analyses_a_real_film_with_no_torch_installed(tmp_path: Path) -> None:
    app = LaunchedApp(tmp_path / "data", env=WITHOUT_TORCH).start()
    try:
        assert app.manage("import sys; print(sys.modules['torch'])").split()[-1] == "None"  # the blocker is active
        app.manage(
            "from django.contrib.auth.models import User; from app.core.roles import grant, RADIOGRAPHER; "
            f"grant(User.objects.create_user('bob', password='{PASSWORD}'), RADIOGRAPHER); "
            "from app.clinical.models import Patient; Patient.objects.create(patient_id='CPU-1')"
        )
        web = WebClient(app)
        web.login("bob", PASSWORD)
        patient = app.query("SELECT id FROM clinical_patient WHERE patient_id = 'CPU-1'")[0][0]
        status, _, body = web.request("upload/", {"patient": str(patient)}, files={"files": ("chest.jpg", a_radiograph().read_bytes())})
        assert status in (200, 302), body[:500]

        def finished() -> tuple | None:
            rows = app.query("SELECT status, device, message, result FROM clinical_analysis")
            return rows[0] if rows and rows[0][0] not in ("queued", "running") else None

        state, device, message, result = wait_for(finished, timeout=180, what="the analysis")
        assert state == "analysed", message
        assert "ONNX Runtime" in device
        study = app.query("SELECT id FROM clinical_study")[0][0]
        code, _, heatmap = web.request(f"studies/{study}/image/heatmap.png")
        assert code == 200
        health = app.get_json("health")
        assert "ONNX Runtime" in health["compute_device"], health
    finally:
        assert app.terminate() == 0
    assert "ImportError" not in app.output() and "No module named 'torch'" not in app.output()


def test_it_installs_a_pack_with_onnx_exports_and_refuses_one_without(tmp_path: Path) -> None:
    from app.platform.install_dir import BUNDLED_MODELS_DIR

    env = {**os.environ, **WITHOUT_TORCH, "CXR_DATA_DIR": str(tmp_path / "data")}

    def import_pack(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.inference", "import-pack", str(folder)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    pack = shutil.copytree(BUNDLED_MODELS_DIR / "cxr-4class-lite", tmp_path / "pack")
    manifest = (pack / "manifest.json").read_text()
    (pack / "manifest.json").write_text(manifest.replace('"version": "3.0.0"', '"version": "3.0.1"'))
    done = import_pack(pack)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any((tmp_path / "data" / "model_packs").rglob("lite0-c.onnx"))

    bare = json.loads(manifest)
    bare["version"] = "2.0.2"
    for member in bare["members"]:
        del member["onnx"], member["onnx_sha256"]
    (pack / "manifest.json").write_text(json.dumps(bare))
    done = import_pack(pack)
    assert done.returncode != 0
    assert "runs packs on ONNX Runtime only" in done.stdout + done.stderr
