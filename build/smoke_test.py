"""Smoke test of the built bundle: start it headless on a fresh data directory, wait for /health
with the model pack loaded, go through first-run set-up, create a radiographer, register a
patient, upload one real radiograph, wait for its analysis, stop the app, check it exited 0.

    python build/smoke_test.py [--bundle build/dist/CXRWorkstation/CXRWorkstation] [--image FILE]

Prints timings (start to /health, start to model pack loaded, analysis) as JSON.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT / "build" / "dist" / "CXRWorkstation" / ("CXRWorkstation.exe" if sys.platform.startswith("win") else "CXRWorkstation")
DEFAULT_IMAGE = ROOT.parent / "shared" / "datasets" / "dicom" / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
PASSWORD = "smoke-test-password-1"


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(self.base + path.lstrip("/"), timeout=30) as r:
            return r.geturl(), r.read().decode()

    def post(self, path: str, fields: dict[str, str], files: dict[str, Path] | None = None) -> tuple[str, str]:
        _, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        fields = {**fields, "csrfmiddlewaretoken": token}
        headers = {"Referer": self.base + path.lstrip("/")}
        if files:
            boundary = uuid.uuid4().hex
            body = b""
            for name, value in fields.items():
                body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, file in files.items():
                body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode() + file.read_bytes() + b"\r\n"
            body += f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        else:
            body = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.base + path.lstrip("/"), data=body, headers=headers)
        with self.opener.open(request, timeout=120) as r:
            return r.geturl(), r.read().decode()


def wait(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(what)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="cxr-bundle-smoke-"))
    started = time.monotonic()
    proc = subprocess.Popen([str(args.bundle), "--headless", "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    report: dict[str, object] = {"bundle": str(args.bundle), "data_dir": str(data)}
    try:
        url = wait(lambda: json.loads((data / "server.json").read_text())["url"], 180, "server.json")
        health = lambda: json.loads(urllib.request.urlopen(url + "health", timeout=5).read())  # noqa: E731
        wait(lambda: health()["database"]["ok"], 60, "/health")
        report["start_to_health_s"] = round(time.monotonic() - started, 1)
        status = wait(lambda: (h := health())["model_pack"].get("loaded") is not None and h["worker"]["state"] == "ready" and h, 300, "warm-up")
        report["start_to_pack_loaded_s"] = round(time.monotonic() - started, 1)
        report["health"] = status
        if not status["model_pack"].get("loaded"):
            raise RuntimeError(f"model pack not loaded: {status['model_pack']}")

        browser = Browser(url)
        browser.post("setup/", {"clinic_name": "Smoke Test Clinic", "username": "admin", "first_name": "Ada", "last_name": "", "password1": PASSWORD, "password2": PASSWORD})
        browser.post("admin/users/new/", {"username": "rita", "first_name": "Rita", "last_name": "", "password1": PASSWORD, "password2": PASSWORD, "role": "Radiographer"})
        browser = Browser(url)
        browser.post("login/", {"username": "rita", "password": PASSWORD})
        t = time.monotonic()
        final_url, _ = browser.post("upload/", {"patient": ""}, {"files": args.image})
        study = re.search(r"/studies/(\d+)/", final_url).group(1)
        page = wait(lambda: (p := browser.get(f"studies/{study}/")[1]) and ("finding-name" in p or "No finding was made" in p or "failed" in p) and p, 180, "analysis")
        report["upload_to_result_s"] = round(time.monotonic() - t, 1)
        finding = re.search(r'<div class="finding-name">([^<]+)</div>', page)
        report["finding"] = finding.group(1) if finding else None
        if not finding:
            raise RuntimeError("the study page shows no finding")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            report["exit_code"] = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            report["exit_code"] = "killed after 60 s"
        report["lock_left"] = (data / "launcher.lock").exists()
    print(json.dumps(report, indent=2))
    return 0 if report["exit_code"] == 0 and not report["lock_left"] else 1


if __name__ == "__main__":
    sys.exit(main())
