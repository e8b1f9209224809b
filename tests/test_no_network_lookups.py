"""Nothing goes over the network, as the kernel sees it: the real server runs under strace while
it analyses a film, installs a pack and compares two packs, and no process of it opens a network
connection (a DNS query included) to anything but this computer.

The Python-level guard (tests/offline_guard) cannot see what a C++ library does: ONNX Runtime
1.32 looked up mobile.events.data.microsoft.com for its telemetry until app/__init__.py turned it
off. ONNX Runtime stays silent on CI machines (it recognises them), so the variables by which it
does are removed from the app's environment here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.launched_app import LaunchedApp, WebClient, wait_for
from tests.shared_data import a_radiograph, requires_shared

pytestmark = [pytest.mark.slow, requires_shared]

REPO = Path(__file__).resolve().parent.parent
CI_MARKERS = ("CI", "GITHUB_ACTIONS", "TF_BUILD", "JENKINS_URL", "BUILD_BUILDID", "ORT_DISABLE_TELEMETRY")
# ONNX Runtime's uploader made its first lookup about 10 s after the library loaded.
QUIET_SECONDS = 20
INET = re.compile(r"sa_family=AF_INET6?\b")
LOOPBACK = re.compile(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"|inet_pton\(AF_INET6, "::ffff:127\.')
RESOLVERS = ("nscd", "io.systemd.Resolve", "resolve")  # name lookups through a local daemon's socket


def strace_works() -> str:
    if shutil.which("strace") is None:
        return "strace is not installed (Debian package strace)"
    probe = subprocess.run(["strace", "-f", "-o", "/dev/null", "true"], capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"strace cannot trace here ({probe.stderr.strip()[:200]})"


def outbound(trace: Path) -> list[str]:
    """Calls that reach for another computer, or for a name: connections and datagrams to a
    non-loopback address, anything to port 53, and the local name-lookup daemons."""
    found = []
    for line in trace.read_text(errors="replace").splitlines():
        if not re.search(r"\b(connect|sendto|sendmsg)\(", line):
            continue
        lookup = "htons(53)" in line or ("AF_UNIX" in line and any(name in line for name in RESOLVERS))
        remote = bool(INET.search(line)) and not LOOPBACK.search(line) and "sin_port=htons(0)" not in line
        if lookup or remote:
            found.append(line)
    return found


def test_it_makes_no_network_lookup_while_analysing_installing_and_comparing(tmp_path: Path) -> None:
    reason = strace_works()
    if reason:
        pytest.skip(reason)
    trace = tmp_path / "strace.txt"
    home = tmp_path / "home"
    home.mkdir()
    app = LaunchedApp(
        tmp_path / "data", env={"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")},
        wrapper=["strace", "-f", "-qq", "-e", "trace=%network", "-o", str(trace)],
    )
    for marker in CI_MARKERS:
        app.env.pop(marker, None)
    app.start()
    try:
        app.manage(
            "from django.contrib.auth.models import User; from app.core.roles import grant, RADIOGRAPHER, ADMINISTRATOR; "
            "from app.clinical.models import Patient; Patient.objects.create(patient_id='NET-1', full_name='Net Test'); "
            "grant(User.objects.create_user('rad', password='a-long-test-password'), RADIOGRAPHER); "
            "grant(User.objects.create_user('admin', password='a-long-test-password'), ADMINISTRATOR)"
        )
        client = WebClient(app)
        client.login("rad", "a-long-test-password")
        patient = app.query("SELECT id FROM clinical_patient WHERE patient_id = 'NET-1'")[0][0]
        status, location, _ = client.request("upload/", {"patient": str(patient)}, {"files": ("film.jpg", a_radiograph().read_bytes())})
        assert status == 302, location
        wait_for(lambda: app.query("SELECT status FROM clinical_analysis WHERE status IN ('analysed', 'refused', 'failed')"), 120, "the analysis")

        # A copy of the bundled pack under another version, installed by the worker (checksums,
        # test inference), then asked for a second opinion on the same film.
        bundled = next(p for p in (REPO / "bundled_models").iterdir() if (p / "manifest.json").is_file())
        copy = tmp_path / "pack-copy"
        shutil.copytree(bundled, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["version"] = manifest["version"] + "-copy"
        (copy / "manifest.json").write_text(json.dumps(manifest))
        app.manage(f"from pathlib import Path; from app.analysis.packs import queue_import; queue_import(Path({str(copy)!r}), activate_after=False)")
        wait_for(lambda: app.query("SELECT state FROM jobs_job WHERE kind = 'analysis.import_pack' AND state IN ('succeeded', 'failed')"), 180, "the pack import")
        assert app.query("SELECT state, error FROM jobs_job WHERE kind = 'analysis.import_pack'")[0][0] == "succeeded"
        study = app.query("SELECT id FROM clinical_study")[0][0]
        client.request(f"studies/{study}/compare/", {"pack": f"{manifest['name']}@{manifest['version']}"})
        wait_for(lambda: app.query("SELECT id FROM clinical_analysis WHERE compared_pack != '' AND status IN ('analysed', 'refused', 'failed')"), 120, "the comparison")
        time.sleep(QUIET_SECONDS)  # long enough for a telemetry uploader to try
    finally:
        assert app.terminate() == 0
    assert trace.stat().st_size > 0, "strace recorded nothing: the test traced no process"
    reached = outbound(trace)
    assert not reached, "the app reached for the network:\n" + "\n".join(reached[:20])
    assert not (home / ".cache" / "Microsoft").exists(), "ONNX Runtime wrote its telemetry device id and event store"
