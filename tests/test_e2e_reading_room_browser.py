"""The reading room in a real browser (Debian's Chromium via Playwright): a 12-bit DICOM made
from a real film (2,500 × 3,000, values scaled from 8 to 12 bits), windowed on the canvas at its
full depth; full screen, invert, a preset; an earlier film beside it with zoom and pan together.
Screenshots at 1366×768 and 1920×1080 and the measured window/level update rate go to
test-artifacts/reading-room/ (the rate is written down, not asserted: see docs/performance.md).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.dicom_samples import twelve_bit_chest
from tests.launched_app import LaunchedApp
from tests.shared_data import REPO, cxr_files, requires_shared
from tests.test_e2e_browser import CHROMIUM, app, create_account, log_in, set_up_clinic  # noqa: F401

ARTIFACTS = REPO / "test-artifacts" / "reading-room"

pytestmark = [
    pytest.mark.slow,
    requires_shared,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it"),
]


def deep_film(folder: Path) -> Path:
    """A real film enlarged to 2,500 × 3,000 and stored as 12-bit CR."""
    film = cxr_files(limit=3)[2]
    big = cv2.resize(np.asarray(Image.open(film).convert("L")), (2500, 3000), interpolation=cv2.INTER_CUBIC)
    source = folder / "big.png"
    Image.fromarray(big).save(source)
    dataset = twelve_bit_chest(source, patient_id="DEEP-1")
    path = folder / "deep.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


def test_a_deep_film_is_windowed_at_full_depth(app: LaunchedApp, tmp_path: Path) -> None:  # noqa: F811
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    dicom = deep_film(Path(tempfile.mkdtemp()))
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        url = app.url
        set_up_clinic(page, url)
        create_account(page, url, "rob", "Radiologist")
        log_in(page, url, "rob")
        # An earlier film of the same patient first (a PNG with the date it was taken), then the DICOM.
        page.goto(url + "patients/new/")
        page.fill("#id_patient_id", "DEEP-1")
        page.fill("#id_full_name", "Deep Film")
        page.click("text=Save")
        page.click("text=Upload radiographs")
        page.set_input_files("#id_files", str(cxr_files(limit=4)[3]))
        page.fill("#id_study_date", "2026-10-01")
        page.click("text=Upload and analyse")
        page.wait_for_url("**/studies/*/")
        page.goto(url + "upload/")
        page.set_input_files("#id_files", str(dicom))
        page.click("text=Upload and analyse")
        page.wait_for_url("**/studies/*/")
        page.wait_for_selector("#viewer[data-windowing=full]", timeout=180_000)
        assert "Study date 2026-11-23" in page.inner_text(".result-card")
        page.screenshot(path=str(ARTIFACTS / "reading-view-1366x768.png"))

        # Stored values 2000..2063 (first row, one per pixel). Under the file's own window (about
        # 3,700 wide) they fall on a handful of 8-bit levels: an 8-bit picture made with that window
        # (as the display PNG is) cannot tell neighbouring values apart. A narrow window can.
        read_row = "() => Array.from(document.getElementById('viewer-canvas').getContext('2d').getImageData(0, 0, 64, 1).data).filter((_, i) => i % 4 === 0)"
        page.select_option("#viewer-preset", "LUNG")
        page.wait_for_timeout(300)
        in_file_window = page.evaluate(read_row)
        assert len(set(in_file_window)) <= 6, sorted(set(in_file_window))
        assert in_file_window[0] == in_file_window[1]  # 2000 and 2001: one 8-bit level
        meta = page.evaluate("() => fetch(document.getElementById('viewer-canvas').dataset.src).then(r => JSON.parse(r.headers.get('X-Viewer-Meta')))")
        narrow = {"level": round((2032 - meta["offset"]) / meta["step"]), "width": round(64 / meta["step"])}
        page.evaluate("""(w) => { const width = document.getElementById('window-width'), level = document.getElementById('window-level');
            width.value = w.width; level.value = w.level; level.dispatchEvent(new Event('input')); }""", narrow)
        page.wait_for_timeout(300)
        row = page.evaluate(read_row)
        assert len(set(row)) >= 32, sorted(set(row))  # told apart at full depth
        assert row[0] != row[1]
        assert page.inner_text("#window-width-value") == "64"

        # How fast the window follows a drag: 60 level changes, one frame each.
        rate = page.evaluate("""async () => {
            const level = document.getElementById('window-level'); const before = window.viewerStats.frames;
            const started = performance.now();
            for (let i = 0; i < 60; i++) { level.value = 20000 + i * 300; level.dispatchEvent(new Event('input'));
                await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); }
            const seconds = (performance.now() - started) / 1000;
            return {frames: window.viewerStats.frames - before, seconds, perSecond: (window.viewerStats.frames - before) / seconds, lastMs: window.viewerStats.lastMs}; }""")
        (ARTIFACTS / "window-rate.json").write_text(json.dumps({"film": "2500x3000, 12-bit", **rate}, indent=2))
        assert rate["frames"] >= 50, rate

        # Invert and a preset.
        before = page.evaluate("() => document.getElementById('viewer-canvas').getContext('2d').getImageData(1200, 1500, 1, 1).data[0]")
        page.check("#viewer-invert")
        page.wait_for_timeout(200)
        after = page.evaluate("() => document.getElementById('viewer-canvas').getContext('2d').getImageData(1200, 1500, 1, 1).data[0]")
        assert after == 255 - before
        page.uncheck("#viewer-invert")
        level_before = page.input_value("#window-level")
        page.select_option("#viewer-preset", "bone")
        assert page.input_value("#window-level") != level_before

        # An earlier film beside this one, zoom and pan together.
        page.click(".prior-thumb")
        page.wait_for_selector("#prior-viewer:not([hidden])")
        assert "2026-10-01" in page.inner_text("#prior-label")
        page.hover("#viewer")
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(200)
        main, prior = page.evaluate("() => [document.getElementById('viewer-stage').style.transform, document.getElementById('prior-stage').style.transform]")
        assert "scale(1)" not in main and main == prior, (main, prior)
        page.screenshot(path=str(ARTIFACTS / "priors-side-by-side-1366x768.png"))

        # Full screen with the key f; the panel stays beside the film.
        page.click("h1")
        page.keyboard.press("f")
        page.wait_for_function("() => document.fullscreenElement !== null", timeout=5000)
        page.screenshot(path=str(ARTIFACTS / "full-screen.png"))
        page.keyboard.press("f")
        page.wait_for_function("() => document.fullscreenElement === null", timeout=5000)

        page.set_viewport_size({"width": 1920, "height": 1080})
        time.sleep(0.3)
        page.screenshot(path=str(ARTIFACTS / "reading-view-1920x1080.png"))
        # At 1024 px the patient and the finding stay in view beside the film.
        page.set_viewport_size({"width": 1024, "height": 768})
        page.evaluate("() => window.scrollTo(0, 0)")
        time.sleep(0.3)
        box = page.locator(".finding-box").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768, box
        page.screenshot(path=str(ARTIFACTS / "reading-view-1024x768.png"))
        browser.close()
