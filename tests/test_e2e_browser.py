"""The whole path in a real browser (Debian's Chromium driven by Playwright), screenshots saved.

First-run set-up -> administrator creates a radiographer and a radiologist -> the radiographer
registers a patient and uploads a real radiograph and a real DICOM -> watches the analysis ->
sees the result with its heatmap -> the radiologist reviews it -> the worklist shows it reviewed.
Screenshots of each step go to test-artifacts/e2e/.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.launched_app import LaunchedApp
from tests.shared_data import DICOM_MONO2, REPO, a_radiograph, cxr_files, requires_shared

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts" / "e2e"
PASSWORD = "a-long-clinic-password"

pytestmark = [
    pytest.mark.slow,
    requires_shared,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it"),
]


def set_up_clinic(page, url: str, shot=None) -> None:  # noqa: ANN001
    """First run: the clinic's name and the administrator account."""
    page.goto(url)
    page.wait_for_url("**/setup/")
    if shot:
        shot("01-first-run")
    page.fill("#id_clinic_name", "Riverside Field Clinic")
    page.fill("#id_username", "admin")
    page.fill("#id_first_name", "Ada")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("text=Create administrator")
    page.wait_for_url(url)


def create_account(page, url: str, username: str, role: str) -> None:  # noqa: ANN001
    page.goto(url + "admin/users/new/")
    page.fill("#id_username", username)
    page.fill("#id_first_name", username.title())
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.select_option("#id_role", role)
    page.click("text=Create account")
    page.wait_for_url("**/admin/users/")


def log_in(page, url: str, username: str) -> None:  # noqa: ANN001
    page.context.clear_cookies()
    page.goto(url + "login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(url)


@pytest.fixture
def app(tmp_path: Path):  # noqa: ANN201
    # The bundled pack, as a clinic gets it: real members, real findings.
    data = tmp_path / "data"
    launched = LaunchedApp(data, offline_guard=True).start()
    deadline = time.monotonic() + 180
    while not launched.get_json("health")["model_pack"].get("loaded"):  # the worker's warm-up
        assert time.monotonic() < deadline, "the model pack did not load"
        time.sleep(0.5)
    yield launched
    assert launched.terminate() == 0
    assert not (data / "blocked-connections.log").exists()


def test_the_whole_clinical_path(app: LaunchedApp, tiny_pack_dir: Path, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # noqa: E731

        set_up_clinic(page, app.url, shot)
        page.wait_for_selector("text=Demonstration model, not for diagnosis")
        for username, role in (("rita", "Radiographer"), ("rob", "Radiologist")):
            create_account(page, app.url, username, role)
        shot("02-users")

        def log_in_as(username: str) -> None:
            log_in(page, app.url, username)

        log_in_as("rita")
        page.click("text=Patients")
        page.click("text=Register patient")
        page.fill("#id_patient_id", "RFC-0042")
        page.fill("#id_full_name", "Amina Okoro")
        page.select_option("#id_sex", "F")
        page.fill("#id_age_years", "34")
        page.click("text=Save")
        page.click("text=Upload radiographs")
        page.set_input_files("#id_files", str(a_radiograph()))
        shot("03-upload")
        page.click("text=Upload and analyse")
        page.wait_for_url("**/studies/*/")
        shot("04-analysis-queued-or-running")
        page.wait_for_selector("#viewer-heatmap", timeout=120_000)
        page.wait_for_selector(".finding-name")
        assert page.is_visible("text=Demonstration model, not for diagnosis")
        finding_box = page.inner_text(".finding-box")
        assert "of 3 models agree" in finding_box
        assert page.inner_text(".finding-name").strip() in {"COVID-19", "Lung Opacity", "Normal", "Viral Pneumonia"}
        page.fill("#heatmap-opacity", "80")
        shot("05-result-with-heatmap")
        study_url = page.url

        page.goto(app.url + "upload/")
        page.set_input_files("#id_files", str(DICOM_MONO2))
        page.click("text=Upload and analyse")
        page.wait_for_url("**/studies/*/")
        page.wait_for_selector(".finding-name", timeout=120_000)
        assert page.locator("text=16d7f894-55d7-4d95-8957-d18987f0e981").count() >= 1
        shot("06-dicom-result")

        # A film the quality gate refuses (a grayscale photograph stands in for a real film it gets
        # wrong): the radiographer reads the advice and analyses it anyway, giving the reason.
        from skimage import data
        from PIL import Image

        refused_file = Path(tempfile.mkdtemp()) / "portable-ap.png"
        Image.fromarray(data.camera()).save(refused_file)
        page.goto(study_url)
        page.click("a:has-text('RFC-0042')")
        page.click("text=Upload radiographs")
        page.set_input_files("#id_files", str(refused_file))
        page.click("text=Upload and analyse")
        page.wait_for_url("**/studies/*/")
        page.wait_for_selector(".refusal", timeout=120_000)
        assert "What to do:" in page.inner_text(".refusal")
        shot("06b-refused-with-advice")
        page.fill("#id_reason", "Portable AP film in the ICU, lines and leads")
        page.click("button:has-text('Analyse anyway')")
        page.wait_for_selector(".finding-name", timeout=120_000)
        marker = page.inner_text(".gate-override")
        assert marker.startswith("Analysed despite the quality gate: Portable AP film in the ICU, lines and leads (by Rita, ")
        assert "analysed despite the quality gate" in page.inner_text(".finding-box")
        shot("06c-analysed-anyway")

        log_in_as("rob")
        page.goto(app.url + "worklist/")
        shot("07-worklist-before-review")
        page.goto(study_url)
        finding = page.inner_text(".finding-name").strip()
        page.check(f"#review-form input[name=finding][value='{finding}']")
        page.fill("#id_note", "Agree.")
        page.click("button:has-text('Sign and stay')")
        page.wait_for_selector("text=agrees with the AI")
        shot("08-reviewed")
        page.goto(app.url + "worklist/?reviewed=yes")
        assert page.locator("text=RFC-0042").count() == 1
        assert page.locator(f"text={finding}").count() >= 1
        shot("09-worklist-reviewed")

        log_in_as("admin")
        page.goto(app.url + "admin/audit/?action=gate_overridden")
        assert page.locator("text=analysed despite the quality gate (it did not look like a chest radiograph)").count() == 1
        shot("10-audit-gate-override")

        # The model card, then a new pack from a USB stick's .zip: installed, activated, used by
        # the very next analysis without a restart, and rolled back.
        page.click("text=About the model")
        assert "cxr-4class-lite 3.0.0" in page.inner_text("h1")
        assert page.locator(".model-card img").count() >= 2
        shot("11-model-card")
        pack_zip = shutil.make_archive(str(tmp_path / "tiny-pack"), "zip", tiny_pack_dir)
        page.click("summary:has-text('Administration')")
        page.click("text=Model packs")
        page.set_input_files("#archive", pack_zip)
        page.check("input[name=activate]")
        page.click("text=Check and install")
        page.wait_for_selector("text=installed and activated", timeout=180_000)
        page.goto(app.url + "admin/packs/")
        assert "tiny-test 0.0.1" in page.inner_text("tr.active-pack")
        shot("12-pack-installed-and-active")
        log_in_as("rita")
        page.goto(study_url)
        page.click("a:has-text('RFC-0042')")
        page.click("text=Upload radiographs")
        page.set_input_files("#id_files", str(cxr_files(limit=2)[1]))
        page.click("text=Upload and analyse")
        page.wait_for_selector(".finding-name", timeout=120_000)
        assert "tiny-test 0.0.1" in page.inner_text(".result-card")
        assert "of 3 models agree" in page.inner_text(".finding-box")
        shot("13-analysed-by-the-new-pack")
        log_in_as("admin")
        page.goto(app.url + "admin/packs/")
        page.click("text=Roll back to cxr-4class-lite 3.0.0")
        page.wait_for_selector("text=cxr-4class-lite 3.0.0 is now the active pack")
        assert "cxr-4class-lite 3.0.0" in page.inner_text("tr.active-pack")
        shot("14-rolled-back")
        browser.close()


@pytest.fixture
def idle_app(tmp_path: Path):  # noqa: ANN201
    data = tmp_path / "data"
    launched = LaunchedApp(data, offline_guard=True, env={"CXR_SESSION_IDLE_SECONDS": "20"}).start()
    yield launched
    assert launched.terminate() == 0


def test_an_open_worklist_does_not_keep_a_session_alive(idle_app: LaunchedApp) -> None:
    """Idle time 20 s; the worklist polls every 10 s. 40 s later the polling page has gone to the
    login page by itself, says why, and patient pages need a new log-in."""
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        set_up_clinic(page, idle_app.url)
        create_account(page, idle_app.url, "rita", "Radiographer")
        log_in(page, idle_app.url, "rita")
        page.goto(idle_app.url + "worklist/")
        page.wait_for_selector("#worklist-table")
        started = time.monotonic()
        page.wait_for_timeout(40_000)  # nobody touches it; it polls every 10 s
        assert time.monotonic() - started >= 40
        assert "/login/" in page.url, page.url
        assert page.is_visible("text=You were logged out after 20 seconds without activity.")
        page.screenshot(path=str(ARTIFACTS / "11-idle-logout.png"), full_page=True)
        page.goto(idle_app.url + "worklist/")
        assert "/login/" in page.url
        browser.close()
