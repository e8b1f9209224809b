"""The real launcher in a subprocess: start, health, signals, single instance, crash recovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from filelock import FileLock

from tests.launched_app import LaunchedApp, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"




def job_row(app: LaunchedApp, job_id: int) -> dict:
    rows = app.query("SELECT state, attempts, progress, error FROM jobs_job WHERE id = ?", (job_id,))
    state, attempts, progress, error = rows[0]
    return {"state": state, "attempts": attempts, "progress": progress, "error": error}


def enqueue_sleep(app: LaunchedApp, seconds: float, marker: Path) -> int:
    out = app.manage(
        "from app.jobs.queue import enqueue; "
        f"print(enqueue('diagnostics.sleep', {{'seconds': {seconds}, 'marker': {str(marker)!r}}}).id)"
    )
    return int(out.strip().splitlines()[-1])


def test_it_answers_health_and_exits_cleanly_on_sigterm(app_dir: Path) -> None:
    app = LaunchedApp(app_dir).start()
    try:
        health = app.get_json("health")
        assert health["status"] == "ok"
        assert health["database"]["ok"] is True
        assert health["worker"]["alive"] is True
        assert health["version"]
        assert app.url.startswith("http://127.0.0.1:")
        assert (app_dir / "secret_key").stat().st_mode & 0o777 == 0o600
        # Patient data is the owner's alone: the folder and every file the app wrote.
        assert app_dir.stat().st_mode & 0o777 == 0o700
        for written in ("db.sqlite3", "logs/app.log"):
            assert (app_dir / written).stat().st_mode & 0o077 == 0, written
    finally:
        code = app.terminate()
    assert code == 0, app.output()
    assert not (app_dir / "server.json").exists()
    assert not (app_dir / "launcher.lock").exists()
    FileLock(str(app_dir / "launcher.lock")).acquire(timeout=0)  # nobody holds it
    assert "Stopped" in app.output()


def test_it_does_not_start_a_second_server(app_dir: Path) -> None:
    first = LaunchedApp(app_dir).start()
    try:
        second = LaunchedApp(app_dir)
        second.log_path = app_dir.parent / "second-launcher.log"
        second.start(wait=False)
        assert second.proc is not None
        assert second.proc.wait(60) == 0
        assert f"already running at {first.url}" in second.output()
        info = json.loads((app_dir / "server.json").read_text())
        assert info["pid"] == first.proc.pid
        assert first.get_json("health")["status"] == "ok"
    finally:
        assert first.terminate() == 0


def test_it_completes_a_job_exactly_once_after_the_process_is_killed(app_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "completions.txt"
    app = LaunchedApp(app_dir).start()
    try:
        job_id = enqueue_sleep(app, seconds=6, marker=marker)
        wait_for(lambda: job_row(app, job_id)["state"] == "running" and job_row(app, job_id)["progress"] > 0.1)
    finally:
        app.kill()  # SIGKILL: no chance to clean up
    assert job_row(app, job_id)["state"] == "running"
    assert not marker.exists()

    restarted = LaunchedApp(app_dir).start()
    try:
        wait_for(lambda: job_row(restarted, job_id)["state"] == "succeeded", timeout=90)
        row = job_row(restarted, job_id)
        assert row["attempts"] == 2
        # No second run can be in flight: the worker runs only rows it claimed from "queued", and
        # none is left queued or running (a final job never runs again: tests/test_queue.py).
        assert restarted.query("SELECT COUNT(*) FROM jobs_job WHERE state IN ('queued', 'running')")[0][0] == 0
    finally:
        assert restarted.terminate() == 0


def test_it_requeues_the_running_job_on_sigterm_and_finishes_it_next_time(app_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "completions.txt"
    app = LaunchedApp(app_dir).start()
    job_id = enqueue_sleep(app, seconds=4, marker=marker)
    wait_for(lambda: job_row(app, job_id)["state"] == "running")
    assert app.terminate() == 0
    row = job_row(app, job_id)
    assert row["state"] == "queued"
    assert row["attempts"] == 0  # a graceful stop does not count as a failed attempt

    restarted = LaunchedApp(app_dir).start()
    try:
        wait_for(lambda: job_row(restarted, job_id)["state"] == "succeeded", timeout=60)
        assert marker.read_text().count("completed") == 1
    finally:
        assert restarted.terminate() == 0


def test_it_reports_the_loaded_pack_and_analyses_a_file(app_dir: Path, tiny_pack_dir: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from app.inference.packs.install import import_pack

    import_pack(tiny_pack_dir, app_dir / "model_packs", activate=True)
    app = LaunchedApp(app_dir).start()
    try:
        health = wait_for(lambda: (h := app.get_json("health"))["model_pack"].get("loaded") and h, timeout=120)
        assert health["model_pack"]["name"] == "tiny-test"
        assert health["model_pack"]["demonstration"] is True
        assert health["compute_device"].startswith(("CPU", "CUDA"))
        assert health["worker"]["state"] == "ready"
        image = tmp_path / "blank.png"
        Image.fromarray(np.full((300, 300), 90, np.uint8)).save(image)
        job_id = int(app.manage(f"from app.jobs.queue import enqueue; print(enqueue('analysis.analyse_file', {{'path': {str(image)!r}}}).id)").split()[-1])
        wait_for(lambda: job_row(app, job_id)["state"] == "succeeded", timeout=60)
        result = json.loads(app.query("SELECT result FROM jobs_job WHERE id = ?", (job_id,))[0][0])
        assert result["status"] == "refused" and result["code"] == "blank"
    finally:
        assert app.terminate() == 0
