"""The hospital set-up, by configuration alone: PostgreSQL instead of SQLite, and job workers in
separate `manage.py runworker` processes instead of the launcher's thread.

Needs a PostgreSQL server: set CXR_TEST_POSTGRES_URL (postgres://user:password@host:port/db) to
a role that may create databases. `.ci/run` starts a throw-away one with Debian's pg_virtualenv.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.launched_app import REPO, LaunchedApp, wait_for

POSTGRES_URL = os.environ.get("CXR_TEST_POSTGRES_URL", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not POSTGRES_URL, reason="needs a PostgreSQL server: set CXR_TEST_POSTGRES_URL (.ci/run starts one with pg_virtualenv)"
    ),
]

JOBS = 12


@pytest.fixture
def database_url() -> str:
    """A fresh, empty database on the server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    name = f"cxr_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(POSTGRES_URL)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), "runworker"],
        cwd=REPO,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )




def test_it_runs_on_postgresql_with_jobs_shared_by_two_separate_worker_processes(tmp_path: Path, database_url: str) -> None:
    import psycopg

    app = LaunchedApp(tmp_path / "data", env={"CXR_DATABASE_URL": database_url, "CXR_INPROCESS_WORKER": "0"})
    app.start(wait=False)
    workers: list[subprocess.Popen] = []
    try:
        # The launcher migrates the empty PostgreSQL database itself (no SQLite backup step).
        wait_for(lambda: (app.data_dir / "server.json").exists(), 90, "the launcher to start")
        workers = [start_worker(app.env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
        health = app.wait_until_healthy()
        assert health["database"]["ok"] is True
        wait_for(lambda: app.get_json("health")["worker"]["count"] == 2, 60, "both workers to report")

        with psycopg.connect(database_url) as db:
            assert db.execute("SELECT count(*) FROM jobs_job").fetchone()[0] == 0
            migrated = db.execute("SELECT count(*) FROM django_migrations WHERE app = 'jobs'").fetchone()[0]
            assert migrated >= 1

        marker = tmp_path / "completions.txt"
        job_ids = [
            int(
                app.manage(
                    "from app.jobs.queue import enqueue; "
                    f"print(enqueue('diagnostics.sleep', {{'seconds': 0.5, 'marker': {str(marker)!r}}}).id)"
                ).split()[-1]
            )
            for _ in range(JOBS)
        ]

        def all_done() -> bool:
            with psycopg.connect(database_url) as db:
                return db.execute("SELECT count(*) FROM jobs_job WHERE state = 'succeeded'").fetchone()[0] == JOBS

        wait_for(all_done, 120, "all jobs to succeed")
        lines = marker.read_text().splitlines()
        completed = sorted(int(line.split()[1]) for line in lines)
        assert completed == sorted(job_ids), "every job completed exactly once"
        pids = {line.rsplit(" ", 1)[1] for line in lines}
        assert pids == {str(w.pid) for w in workers}, f"both worker processes took jobs: {pids}"
        with psycopg.connect(database_url) as db:
            attempts = db.execute("SELECT max(attempts), count(DISTINCT worker_id) FROM jobs_job").fetchone()
        assert attempts == (1, 2)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(60) for worker in workers]
        launcher_code = app.terminate()
    assert codes == [0, 0]
    assert launcher_code == 0, app.output()
