"""The worker runs the real engine: a real radiograph in, a stored result and heatmap out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from app.analysis import engine_service
from app.analysis.jobs import ANALYSE_FILE
from app.inference.packs import registry as pack_registry
from app.inference.packs.install import import_pack
from app.jobs import queue
from app.jobs.models import Job, JobState
from app.jobs.worker import Worker
from tests.shared_data import a_radiograph, requires_shared

pytestmark = pytest.mark.django_db


@pytest.fixture
def installed_pack(tiny_pack_dir: Path):
    imported = settings.DATA_DIR.model_packs
    if not (imported / "tiny-test-0.0.1").exists():
        import_pack(tiny_pack_dir, imported)
    pack_registry.set_active(imported, pack_registry.installed(imported)[0][0])
    engine_service.reset()
    yield
    engine_service.reset()


def run_job(path: Path) -> Job:
    job = queue.enqueue(ANALYSE_FILE, {"path": str(path)})
    worker = Worker(worker_id="test")
    worker.execute(queue.claim_next("test"))
    job.refresh_from_db()
    return job


@requires_shared
def test_it_analyses_a_real_radiograph(installed_pack) -> None:
    job = run_job(a_radiograph())
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.result["status"] == "analysed"
    assert job.result["pack"]["name"] == "tiny-test"
    assert job.result["demonstration"] is True
    assert job.result["consensus"]["agreement_text"].endswith("of 3 models")
    heatmap = Path(job.result["images"]["heatmap"])
    assert not heatmap.is_absolute(), "images are named relative to the data directory (restores move it)"
    assert (settings.DATA_DIR.root / heatmap).is_file()
    assert job.progress == 1.0


def test_a_refusal_is_a_result_not_a_failure(installed_pack, tmp_path: Path) -> None:
    Image.fromarray(np.full((200, 200), 128, np.uint8)).save(tmp_path / "blank.png")
    job = run_job(tmp_path / "blank.png")
    assert job.state == JobState.SUCCEEDED
    assert job.result["status"] == "refused"
    assert job.result["code"] == "blank"


def test_an_unreadable_file_fails_with_its_reason(installed_pack, tmp_path: Path) -> None:
    (tmp_path / "x.dcm").write_bytes(b"not a dicom at all" * 20)
    job = run_job(tmp_path / "x.dcm")
    assert job.state == JobState.FAILED
    assert "not a PNG, JPEG or DICOM" in job.error


def test_a_missing_pack_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "MODEL_PACK", "no-such-pack")
    engine_service.reset()
    Image.fromarray(np.full((200, 200), 128, np.uint8)).save(tmp_path / "a.png")
    job = run_job(tmp_path / "a.png")
    assert job.state == JobState.FAILED
    assert "no-such-pack" in job.error
    engine_service.reset()


def test_a_broken_engine_is_reported_by_the_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(engine_service, "get_engine", broken)
    status = engine_service.warm_up()
    assert status["model_pack"]["loaded"] is False
    assert "could not start: operator torchvision::nms" in status["model_pack"]["reason"]
