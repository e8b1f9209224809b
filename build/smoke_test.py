"""Smoke test of the built app, as a radiographer would get it.

    python build/smoke_test.py --tarball build/dist/CXRWorkstation-0.1.0-linux-x86_64.tar.gz
    python build/smoke_test.py [--bundle build/dist/CXRWorkstation/CXRWorkstation]

With --tarball: unpack it, run its install.sh for a throw-away home folder, check the menu entry
points at the installed program and that the program folder is read-only, and test the installed
copy; at the end run its uninstall.sh and check that the program is gone and the data is kept.

1. Headless, on a fresh data directory: wait for /health with the model pack loaded, do the
   first-run set-up over HTTP, create a radiographer, upload one real radiograph, wait for its
   finding on the study page, SIGTERM, check exit code 0 and no lock left.
2. Window, when Xvfb is installed: start the program as a double-click does (the .desktop
   launchers through GLib, as GNOME-family file managers and menus do; no flags, so the default
   data folder), time start to a painted first screen in the real Qt window, save a screenshot,
   close the window as its close button does, check the app stopped cleanly. The tarball's
   run-in-place launcher, then the installed menu entry cold (page cache dropped when this
   process may do so) and warm, then the program run directly (exit code checked).

Prints a JSON report; exits 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import ctypes
import http.cookiejar
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.x11_display import VirtualDisplay  # noqa: E402
from tests.x11_display import unavailable_reason as display_unavailable  # noqa: E402

EXE_NAME = "CXRWorkstation.exe" if sys.platform.startswith("win") else "CXRWorkstation"
DEFAULT_BUNDLE = ROOT / "build" / "dist" / "CXRWorkstation" / EXE_NAME
DEFAULT_IMAGE = ROOT.parent / "shared" / "datasets" / "dicom" / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
ARTIFACTS = ROOT / "test-artifacts" / "bundle"
PASSWORD = "smoke-test-password-1"
WINDOW_TITLE = "CXR Workstation"


class CheckFailed(Exception):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[str, str]:
        url, content = self.get_bytes(path)
        return url, content.decode()

    def get_bytes(self, path: str) -> tuple[str, bytes]:
        with self.opener.open(self.base + path.lstrip("/"), timeout=60) as r:
            return r.geturl(), r.read()

    def post(self, path: str, fields: dict[str, str], files: dict[str, Path] | None = None) -> tuple[str, str]:
        _, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        check(token, f"no CSRF token on {path}")
        fields = {**fields, "csrfmiddlewaretoken": token.group(1)}
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
        except (OSError, ValueError):  # not there yet, or being written
            pass
        time.sleep(0.25)
    raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")


def stop(proc: subprocess.Popen) -> int | str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "killed after 60 s"


# -- install from the tarball ---------------------------------------------------------------


def install_from_tarball(tarball: Path, work: Path, home: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Unpack and install; returns the installed program and the unpacked folder (the USB stick)."""
    started = time.monotonic()
    unpacked = work / "usb-stick"
    unpacked.mkdir()
    with tarfile.open(tarball) as archive:
        archive.extractall(unpacked, filter="tar")
    folders = [p for p in unpacked.iterdir() if p.is_dir()]
    check(len(folders) == 1, f"the tarball should hold one folder, found {[p.name for p in folders]}")
    for name in ("install.sh", "uninstall.sh", "README.txt", "cxr-workstation.desktop"):
        check((folders[0] / name).exists(), f"{name} missing from the tarball")
    report["unpack_s"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    done = subprocess.run(
        [str(folders[0] / "install.sh"), "--user"], env=user_env(home), capture_output=True, text=True, timeout=900
    )
    report["install_s"] = round(time.monotonic() - started, 1)
    report["install_output"] = done.stdout.strip().splitlines()[-2:]
    check(done.returncode == 0, f"install.sh failed ({done.returncode}): {done.stdout}{done.stderr}")

    prefix = home / ".local" / "opt" / "cxr-workstation"
    exe = prefix / EXE_NAME
    desktop = home / ".local" / "share" / "applications" / "cxr-workstation.desktop"
    check(desktop.exists(), "no menu entry was installed")
    exec_line = next((line for line in desktop.read_text().splitlines() if line.startswith("Exec=")), "")
    check(exec_line == f'Exec="{exe}"', f"the menu entry runs {exec_line!r}, not the installed program")
    check((home / ".local" / "share" / "icons" / "hicolor" / "256x256" / "apps" / "cxr-workstation.png").exists(), "no icon was installed")
    check(os.access(exe, os.X_OK), "the installed program is not executable")
    writable = [p for p in [prefix, *prefix.rglob("*")] if not p.is_symlink() and p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)]
    check(not writable, f"{len(writable)} installed files are writable, e.g. {writable[:3]}")
    report["installed_to"] = str(prefix)
    return exe, folders[0]


def uninstall(prefix: Path, home: Path, report: dict[str, Any]) -> None:
    done = subprocess.run([str(prefix / "uninstall.sh")], env=user_env(home), capture_output=True, text=True, timeout=300)
    check(done.returncode == 0, f"uninstall.sh failed ({done.returncode}): {done.stdout}{done.stderr}")
    check(not prefix.exists(), "the program folder is still there after uninstall")
    check(not (home / ".local" / "share" / "applications" / "cxr-workstation.desktop").exists(), "the menu entry is still there")
    data = home / ".local" / "share" / "CXRWorkstation" / "db.sqlite3"
    check(data.exists(), "uninstall removed the patient database; it must keep it unless asked")
    report["uninstall"] = "program removed, data kept"


def user_env(home: Path, display: VirtualDisplay | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CXR_", "DJANGO_")) and k not in ("WAYLAND_DISPLAY", "DISPLAY")}
    env["HOME"] = str(home)
    if display is not None:
        env["DISPLAY"] = display.name
    return env


# -- the checks on a running app ---------------------------------------------------------------


def headless_run(exe: Path, image: Path, work: Path, report: dict[str, Any], cpu_only: bool = False) -> None:
    data = work / "headless-data"
    log = (work / "headless.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen([str(exe), "--headless", "--data-dir", str(data)], stdout=log, stderr=subprocess.STDOUT, env=user_env(work / "home"))
    result: dict[str, Any] = {}
    report["headless"] = result
    try:
        url = wait(lambda: json.loads((data / "server.json").read_text())["url"], 180, "server.json")
        health = lambda: json.loads(urllib.request.urlopen(url + "health", timeout=5).read())  # noqa: E731
        wait(lambda: health()["database"]["ok"], 60, "/health")
        result["start_to_health_s"] = round(time.monotonic() - started, 1)
        status = wait(lambda: (h := health())["model_pack"].get("loaded") is not None and h["worker"]["state"] == "ready" and h, 300, "the model pack warm-up")
        result["start_to_pack_loaded_s"] = round(time.monotonic() - started, 1)
        result["model_pack"] = status["model_pack"]
        result["compute_device"] = status["compute_device"]
        check(status["model_pack"].get("loaded"), f"model pack not loaded: {status['model_pack']}")
        if cpu_only:
            check("ONNX Runtime" in status["compute_device"], f"the CPU-only edition runs on {status['compute_device']}, not ONNX Runtime")

        browser = Browser(url)
        browser.post("setup/", {"clinic_name": "Smoke Test Clinic", "username": "admin", "first_name": "Ada", "last_name": "", "password1": PASSWORD, "password2": PASSWORD})
        browser.post("admin/users/new/", {"username": "rita", "first_name": "Rita", "last_name": "", "password1": PASSWORD, "password2": PASSWORD, "role": "Radiographer"})
        browser = Browser(url)
        browser.post("login/", {"username": "rita", "password": PASSWORD})
        t = time.monotonic()
        final_url, _ = browser.post("upload/", {"patient": ""}, {"files": image})
        study = re.search(r"/studies/(\d+)/", final_url)
        check(study, f"the upload did not lead to a study page ({final_url})")
        page = wait(lambda: (p := browser.get(f"studies/{study.group(1)}/")[1]) and ("finding-name" in p or "No finding was made" in p or "failed" in p) and p, 180, "the analysis")
        result["upload_to_result_s"] = round(time.monotonic() - t, 1)
        finding = re.search(r'<div class="finding-name">([^<]+)</div>', page)
        result["finding"] = finding.group(1) if finding else None
        check(finding, "the study page shows no finding")
        check("Demonstration model" in page, "the demonstration warning is missing from the result page")
        # What the bundle must carry besides the engine: the report's fonts, highdicom's tables,
        # the translation catalogues.
        _, pdf = browser.get_bytes(f"studies/{study.group(1)}/report.pdf")
        check(pdf.startswith(b"%PDF") and b"DejaVuSans" in pdf, "the PDF report is missing or lacks its embedded font")
        _, sr = browser.get_bytes(f"studies/{study.group(1)}/ai-result-sr.dcm")
        check(sr[128:132] == b"DICM", "the DICOM SR export failed")
        result["report_pdf_bytes"], result["dicom_sr_bytes"] = len(pdf), len(sr)
        browser.post("preferences/", {"language": "fr"})
        _, worklist = browser.get("worklist/")
        check('<html lang="fr">' in worklist and "Liste de travail" in worklist, "the French catalogue is missing from the bundle")
    finally:
        result["exit_code"] = stop(proc)
        log.close()
        result["lock_left"] = (data / "launcher.lock").exists()
    check(result["exit_code"] == 0, f"headless run exited with {result['exit_code']}: {(work / 'headless.log').read_text()[-2000:]}")
    check(not result["lock_left"], "the instance lock was left behind")


def drop_page_cache() -> bool:
    """Make the next start read the bundle from disk, as after a reboot (root only)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


# What a GLib-based file manager or menu (GNOME, Cinnamon, MATE...) does on a double-click:
# load the .desktop file by its path (so %k is set), expand Exec= and spawn it detached.
# (`gio launch` is not the same: it loads the file without its path and leaves %k empty.)
GLIB_LAUNCH = """
import ctypes, sys
gio = ctypes.CDLL("libgio-2.0.so.0")
gio.g_desktop_app_info_new_from_filename.restype = ctypes.c_void_p
gio.g_desktop_app_info_new_from_filename.argtypes = [ctypes.c_char_p]
gio.g_app_info_launch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
info = gio.g_desktop_app_info_new_from_filename(sys.argv[1].encode())
if not info:
    sys.exit("not a valid desktop entry: " + sys.argv[1])
sys.exit(0 if gio.g_app_info_launch(info, None, None, None) else "GLib could not launch " + sys.argv[1])
"""


def glib_available() -> bool:
    try:
        ctypes.CDLL("libgio-2.0.so.0")
    except OSError:
        return False
    return True


def launch_desktop_entry(desktop_file: Path, env: dict[str, str], log: Path) -> None:
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-c", GLIB_LAUNCH, str(desktop_file)], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=60)
    check(done.returncode == 0, f"launching {desktop_file} failed: {log.read_text()[-1000:]}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def window_run(display: VirtualDisplay, label: str, start, home: Path, work: Path) -> dict[str, Any]:  # noqa: ANN001
    """One start of the windowed app: time to a painted first screen, screenshot, close the window
    as its close button does, check the app shut down cleanly. `start(env, log)` starts it and
    returns the process when it is our child (exit code checked) or None when launched detached."""
    run: dict[str, Any] = {"start": label}
    # No flags, as the menu entry starts it: the default per-user data folder.
    data = home / ".local" / "share" / "CXRWorkstation"
    log_path = work / f"window-{label.replace(' ', '-').replace(',', '')}.log"
    started = time.monotonic()
    proc = start(user_env(home, display), log_path)
    try:
        server = wait(lambda: json.loads((data / "server.json").read_text()), 240, f"the app to start ({label})")
        display.wait_for_first_screen(WINDOW_TITLE, timeout=240, alive=lambda: pid_alive(server["pid"]))
        run["start_to_first_screen_s"] = round(time.monotonic() - started, 1)
        shot = display.save_screenshot(ARTIFACTS / f"{log_path.stem}.png")
        run["screenshot"] = str(shot.relative_to(ROOT))
        alive = (lambda: proc.poll() is None) if proc is not None else (lambda: pid_alive(server["pid"]))
        run["close_requests"] = display.close_until_gone(WINDOW_TITLE, alive=alive)
        if proc is not None:
            run["exit_code"] = proc.wait(10)
            check(run["exit_code"] == 0, f"closing the window ({label}) ended the app with {run['exit_code']}: {log_path.read_text()[-2000:]}")
        else:
            run["exit_code"] = "not observable (started detached); checked: process ended, 'Stopped' logged, lock released"
            app_log = (data / "logs" / "app.log").read_text()
            check(app_log.rstrip().endswith("launcher: Stopped"), f"the app did not log a clean stop ({label}): {app_log[-1500:]}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)
    check(not (data / "launcher.lock").exists(), f"the instance lock was left behind ({label})")
    check(not (data / "server.json").exists(), f"server.json was left behind ({label})")
    return run


def window_runs(display: VirtualDisplay, exe: Path, home: Path, work: Path, report: dict[str, Any], unpacked: Path | None) -> None:
    """With an install from the tarball: first the tarball's own run-in-place launcher on the
    unpacked folder; then the unpacked folder is deleted (the USB stick is unplugged) and the
    installed menu entry is double-clicked cold and warm; last the program is run directly."""
    runs: list[dict[str, Any]] = []
    report["window"] = runs

    def direct(env: dict[str, str], log: Path) -> subprocess.Popen:
        return subprocess.Popen([str(exe)], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)

    def double_click(entry: Path):  # noqa: ANN202
        return lambda env, log: launch_desktop_entry(entry, env, log)

    glib = glib_available()
    if unpacked is not None:
        if glib:
            runs.append(window_run(display, "warm, run in place from the unpacked tarball", double_click(unpacked / "cxr-workstation.desktop"), home, work))
        else:
            report["run_in_place"] = "not checked: no libgio-2.0 to launch .desktop files with"
        shutil.rmtree(unpacked)
    menu_entry = home / ".local" / "share" / "applications" / "cxr-workstation.desktop"
    by_menu = unpacked is not None and glib
    cold_dropped = drop_page_cache()
    cold = window_run(display, "cold, menu entry" if by_menu else "cold", double_click(menu_entry) if by_menu else direct, home, work)
    cold["page_cache_dropped"] = cold_dropped
    runs.append(cold)
    if by_menu:
        runs.append(window_run(display, "warm, menu entry", double_click(menu_entry), home, work))
    runs.append(window_run(display, "warm, program run directly", direct, home, work))
    data = home / ".local" / "share" / "CXRWorkstation"
    check((data / "db.sqlite3").exists(), f"the default data folder {data} was not used")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, help="install from this Linux tarball first")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="the built program (without --tarball)")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="a real radiograph (DICOM, PNG or JPEG)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--cpu-only", action="store_true", help="the CPU-only edition: no torch shipped, analyses on ONNX Runtime")
    args = parser.parse_args()
    if not args.image.exists():
        print(f"smoke_test: needs a real radiograph: {args.image} is missing (the public datasets in ../shared, or pass --image)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="cxr-bundle-smoke-"))
    home = work / "home"
    home.mkdir()
    report: dict[str, Any] = {"work": str(work)}
    ok = False
    try:
        unpacked = None
        if args.tarball:
            report["tarball"] = str(args.tarball)
            report["tarball_mb"] = round(args.tarball.stat().st_size / 2**20)
            exe, unpacked = install_from_tarball(args.tarball, work, home, report)
        else:
            exe = args.bundle
        report["program"] = str(exe)
        report["installed_mb"] = round(sum(p.stat().st_size for p in exe.parent.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20)
        if args.cpu_only:
            shipped = {p.name for p in (exe.parent / "_internal").iterdir()}
            check(not shipped & {"torch", "torchvision", "timm", "nvidia"}, f"the CPU-only edition ships {sorted(shipped & {'torch', 'torchvision', 'timm', 'nvidia'})}")
        headless_run(exe, args.image, work, report, cpu_only=args.cpu_only)
        if display_unavailable() is None:
            with VirtualDisplay() as display:
                window_runs(display, exe, home, work, report, unpacked)
        else:
            report["window"] = f"not checked: {display_unavailable()}"
        if args.tarball:
            uninstall(exe.parent, home, report)
        ok = True
    except (CheckFailed, TimeoutError, RuntimeError) as exc:
        report["failed"] = str(exc)
        for log in sorted(work.glob("*.log")):
            report.setdefault("log_tails", {})[log.name] = log.read_text(errors="replace")[-1500:]
    finally:
        print(json.dumps(report, indent=2))
        if not args.keep:
            for path in [work, *work.rglob("*")]:  # the installed copy is read-only by design
                if path.is_dir() and not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
