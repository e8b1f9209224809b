"""Load test of the real launcher on loopback: concurrent uploaders plus a big folder import.

    .venv/bin/python -m tests.loadtest [--uploaders 5] [--per-uploader 20] [--import-files 1000] [--out FILE]

What it does (nothing leaves 127.0.0.1; bounded by the counts given):
- starts the app headless on a fresh temporary data directory (the bundled model pack analyses);
- N radiographers log in and upload M real radiographs each through the real upload form, all at
  once (one thread each), while one of them queues a folder import of K other real radiographs;
- waits until every job is final, then checks: no HTTP 5xx, no "database is locked" in the log,
  every file stored exactly once, one analysis job per study, none run twice or lost.
Prints (and with --out writes) a JSON summary: time to drain, analyses per minute, the server's
resident memory before and after. Needs ../shared/datasets (cxr/ for the uploads,
covid-radiography/ for the import). Results are recorded in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.launched_app import LaunchedApp, WebClient, wait_for
from tests.shared_data import COVID_RADIOGRAPHY, CXR

PASSWORD = "load-test-password-1"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def real_films(uploads: int, imports: int) -> tuple[list[Path], list[Path]]:
    """Distinct files (by content) for the uploads (cxr/) and the import (covid-radiography/)."""
    seen: set[str] = set()

    def distinct(paths: list[Path], count: int) -> list[Path]:
        chosen = []
        for path in paths:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                chosen.append(path)
                if len(chosen) == count:
                    return chosen
        raise SystemExit(f"only {len(chosen)} distinct films found, {count} needed")

    with (CXR / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        cxr = [CXR / row["file"] for row in csv.DictReader(handle)]
    with (COVID_RADIOGRAPHY / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    covid = [COVID_RADIOGRAPHY / row["file"] for row in rows[:: max(1, len(rows) // (imports * 2))]]
    return distinct(cxr, uploads), distinct(covid, imports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploaders", type=int, default=5)
    parser.add_argument("--per-uploader", type=int, default=20)
    parser.add_argument("--import-files", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the queue to drain")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not (CXR / "manifest.csv").is_file() or not (COVID_RADIOGRAPHY / "manifest.csv").is_file():
        print("needs ../shared/datasets (cxr/ and covid-radiography/)", file=sys.stderr)
        return 2
    uploads, imports = real_films(args.uploaders * args.per_uploader, args.import_files)
    work = Path(tempfile.mkdtemp(prefix="cxr-loadtest-"))
    folder = work / "usb" / "screening"
    folder.mkdir(parents=True)
    for i, path in enumerate(imports):
        shutil.copyfile(path, folder / f"IMP-{i:04d}{path.suffix.lower()}")

    app = LaunchedApp(work / "data").start()
    assert app.terminate() == 0  # the database exists; accounts are made while it is stopped
    names = [f"radiographer{i}" for i in range(args.uploaders)]
    app.manage(
        "from django.contrib.auth.models import User; from app.core.roles import grant, RADIOGRAPHER; "
        "from app.core.models import ClinicSettings; from app.clinical.models import Patient; "
        f"ClinicSettings.objects.update_or_create(pk=1, defaults=dict(clinic_name='Load test', import_folders={str(work / 'usb')!r})); "
        f"[grant(User.objects.create_user(n, password={PASSWORD!r}), RADIOGRAPHER) for n in {names!r}]; "
        f"[Patient.objects.create(patient_id=f'LOAD-{{i}}') for i in range({args.uploaders})]"
    )
    patients = json.loads(app.manage("import json; from app.clinical.models import Patient; print(json.dumps([p.pk for p in Patient.objects.order_by('patient_id')]))").splitlines()[-1])
    app.start()
    pid = app.proc.pid
    rss_start = rss_mb(pid)
    clients = []
    for name in names:
        client = WebClient(app)
        client.login(name, PASSWORD)
        clients.append(client)

    statuses: list[int] = []
    upload_seconds: list[float] = []
    lock = threading.Lock()

    def uploader(index: int) -> None:
        client = clients[index]
        for path in uploads[index * args.per_uploader : (index + 1) * args.per_uploader]:
            started = time.perf_counter()
            status, _, _ = client.request("upload/", {"patient": str(patients[index])}, files={"files": (path.name, path.read_bytes())}, timeout=300)
            with lock:
                statuses.append(status)
                upload_seconds.append(time.perf_counter() - started)

    began = time.perf_counter()
    import_status = clients[0].request("import/", {"folder": str(folder), "patient": ""})[0]
    threads = [threading.Thread(target=uploader, args=(i,)) for i in range(args.uploaders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    uploads_done = time.perf_counter() - began

    def drained() -> bool:
        open_jobs = app.query("SELECT COUNT(*) FROM jobs_job WHERE state IN ('queued', 'running')")[0][0]
        return open_jobs == 0 and app.query("SELECT COUNT(*) FROM clinical_importitem WHERE status = 'pending'")[0][0] == 0

    wait_for(drained, timeout=args.timeout, interval=2, what="the queue drained")
    drain_seconds = time.perf_counter() - began
    rss_end = rss_mb(pid)

    studies = app.query("SELECT COUNT(*), COUNT(DISTINCT sha256) FROM clinical_study")[0]
    analyses = app.query("SELECT COUNT(*), COUNT(DISTINCT study_id), COUNT(DISTINCT job_id) FROM clinical_analysis")[0]
    jobs = dict(app.query("SELECT state, COUNT(*) FROM jobs_job WHERE kind = 'clinical.analyse_study' GROUP BY state"))
    attempts = dict(app.query("SELECT attempts, COUNT(*) FROM jobs_job WHERE kind = 'clinical.analyse_study' GROUP BY attempts"))
    outcomes = dict(app.query("SELECT status, COUNT(*) FROM clinical_analysis GROUP BY status"))
    items = dict(app.query("SELECT status, COUNT(*) FROM clinical_importitem GROUP BY status"))
    health = app.get_json("health")
    code = app.terminate()
    log = app.output() + (app.data_dir / "logs" / "app.log").read_text(encoding="utf-8", errors="replace")
    expected = len(uploads) + len(imports)
    summary: dict[str, Any] = {
        "uploaders": args.uploaders,
        "uploads": len(uploads),
        "import_files": len(imports),
        "import_request_status": import_status,
        "upload_statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "upload_seconds": {"median": sorted(upload_seconds)[len(upload_seconds) // 2], "max": max(upload_seconds)},
        "uploads_finished_after_s": round(uploads_done, 1),
        "drained_after_s": round(drain_seconds, 1),
        "analyses_per_minute": round(analyses[0] / drain_seconds * 60, 1),
        "studies": studies[0],
        "distinct_files": studies[1],
        "analyses": analyses[0],
        "studies_with_analysis": analyses[1],
        "analysis_jobs": analyses[2],
        "analysis_job_states": jobs,
        "analysis_job_attempts": {str(k): v for k, v in attempts.items()},
        "analysis_outcomes": outcomes,
        "import_items": items,
        "database_is_locked_in_log": log.count("database is locked"),
        "tracebacks_in_log": log.count("Traceback"),
        "server_rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1)},
        "compute_device": health.get("compute_device"),
        "exit_code": code,
    }
    problems = []
    if any(s >= 500 for s in statuses) or import_status >= 500:
        problems.append("HTTP 5xx")
    if summary["database_is_locked_in_log"]:
        problems.append("database is locked")
    if studies[0] != expected or studies[1] != expected:
        problems.append(f"{studies[0]} studies for {expected} files")
    if analyses[0] != expected or analyses[1] != expected or analyses[2] != expected:
        problems.append("analyses lost or duplicated")
    if set(jobs) != {"succeeded"} or set(attempts) != {1}:
        problems.append("an analysis job failed or ran twice")
    summary["problems"] = problems
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
