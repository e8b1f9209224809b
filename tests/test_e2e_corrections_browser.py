"""Putting mistakes right and reading fast, in a real browser (Debian's Chromium via Playwright).

A radiographer uploads a film on the wrong patient and moves it by uploading it to the right one;
merges a patient registered twice (the old ID still finds the study); voids a test film that an
administrator restores; imports a folder after checking its preview. A radiologist reads three
studies with Sign & next using only the keyboard, amends one (the PDF shows the addendum above
the original), reads one as "Not assessable", and the radiographer finds it on the Retake list.
Every correction is in the audit log and the study's history. Screenshots: test-artifacts/e2e-corrections/.
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.launched_app import LaunchedApp
from tests.shared_data import REPO, cxr_files, requires_shared
from tests.test_e2e_browser import CHROMIUM, app, create_account, log_in, set_up_clinic  # noqa: F401  (app: launched with its pack loaded)

ARTIFACTS = REPO / "test-artifacts" / "e2e-corrections"

pytestmark = [
    pytest.mark.slow,
    requires_shared,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it"),
]


def wait_for_analyses(launched: LaunchedApp) -> None:
    deadline = time.monotonic() + 300
    while launched.query("SELECT COUNT(*) FROM clinical_analysis WHERE status IN ('queued', 'running')")[0][0]:
        assert time.monotonic() < deadline, "analyses did not finish"
        time.sleep(0.5)


def test_corrections_and_the_reading_loop(app: LaunchedApp, tmp_path: Path) -> None:  # noqa: F811
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    films = cxr_files(limit=8)
    usb = tmp_path / "usb" / "screening-day"
    usb.mkdir(parents=True)
    shutil.copy(films[5], usb / "RFC-0001.png")
    shutil.copy(films[6], usb / "NEW-0001.png")
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # noqa: E731
        url = app.url

        set_up_clinic(page, url)
        for username, role in (("rita", "Radiographer"), ("rob", "Radiologist")):
            create_account(page, url, username, role)
        page.goto(url + "admin/settings/")
        page.fill("#id_import_folders", str(tmp_path / "usb"))
        page.click("button:has-text('Save')")
        page.wait_for_selector("text=Settings saved.")

        log_in(page, url, "rita")
        for patient_id, name in (("RFC-0001", "Ama Mensah"), ("RFC-0002", "Kofi Boateng"), ("KB-77", "")):
            page.goto(url + "patients/new/")
            page.fill("#id_patient_id", patient_id)
            page.fill("#id_full_name", name)
            page.click("text=Save")
            page.wait_for_url("**/patients/*/")

        def upload(patient_id: str, film: Path) -> None:
            page.goto(url + f"patients/?q={patient_id}")
            page.click(f"a:has-text('{patient_id}')")
            page.click("text=Upload radiographs")
            page.set_input_files("#id_files", str(film))
            page.click("text=Upload and analyse")

        # 1. The wrong patient: film 0 stored on RFC-0001, then uploaded again for RFC-0002.
        upload("RFC-0001", films[0])
        page.wait_for_url("**/studies/*/")
        moved_url = page.url
        upload("RFC-0002", films[0])
        page.wait_for_selector("text=Already stored (same file)")
        shot("01-duplicate-offers-a-move")
        page.click("button:has-text('Move the existing study to patient RFC-0002')")
        page.wait_for_url(moved_url)
        assert "RFC-0002" in page.inner_text("h1")
        page.click("summary:has-text('History')")
        assert "moved from patient RFC-0001 to RFC-0002: stored on patient RFC-0001 by mistake" in page.inner_text("details.history")
        shot("02-moved")

        # 2. One person registered twice: KB-77's film moves to RFC-0002; KB-77 still finds it.
        upload("KB-77", films[1])
        page.wait_for_url("**/studies/*/")
        merged_study_url = page.url
        page.goto(url + "patients/?q=KB-77")
        page.click("a:has-text('KB-77')")
        page.click("text=Merge with another record")
        page.fill("#id_keep", "RFC-0002")
        page.fill("#id_reason", "same person registered twice at the desk")
        page.click("button:has-text('Compare the records')")
        page.wait_for_selector("table.merge-compare")
        shot("03-merge-compare")
        page.check("#id_confirmed")
        page.click("button:has-text('Merge the records')")
        page.wait_for_selector("text=KB-77 still finds this record")
        page.goto(url + "worklist/?q=KB-77")
        assert page.locator("table.worklist tr.row-link").count() == 2  # both of RFC-0002's films
        assert "RFC-0002" in page.inner_text("table.worklist")
        shot("04-old-id-finds-the-merged-record")

        # 3. A test film voided by the radiographer, restored by an administrator.
        upload("RFC-0001", films[2])
        page.wait_for_url("**/studies/*/")
        voided_url = page.url
        page.click("summary:has-text('Correct this study')")
        page.click("text=Void (entered in error, wrong film, test)")
        page.check("input[name=reason][value=test]")
        page.fill("#id_note", "practice exposure")
        page.click("button:has-text('Void the study')")
        page.wait_for_selector("text=an administrator can restore it")
        page.goto(url + "worklist/?q=RFC-0001")
        assert page.locator("table.worklist tr.row-link").count() == 0
        log_in(page, url, "admin")
        page.click("summary:has-text('Administration')")
        page.click("text=Voided studies")
        assert "practice exposure" in page.inner_text("main")
        shot("05-voided-studies")
        page.fill("input[name=note]", "a real patient's film after all")
        page.click("button:has-text('Restore')")
        page.wait_for_selector("text=is back on the worklists")

        # 4. A folder import: the preview first, nothing stored until confirmed.
        log_in(page, url, "rita")
        page.goto(url + "import/")
        page.fill("#folder", str(usb))
        page.click("text=Start import")
        page.wait_for_selector("text=Check before importing", timeout=60_000)
        plan = page.inner_text("table.import-plan")
        assert "RFC-0001" in plan and "NEW-0001" in plan and "new record" in plan
        shot("06-import-preview")
        assert app.query("SELECT COUNT(*) FROM clinical_study WHERE original_name = 'NEW-0001.png'")[0][0] == 0
        page.click("button:has-text('Import 2 files')")
        page.wait_for_selector("text=finished", timeout=120_000)
        summary = page.inner_text("table.import-summary")
        assert "RFC-0001" in summary and "NEW-0001" in summary and "no name yet" in summary
        shot("07-import-summary")

        # 5. The radiologist reads three studies with the keyboard alone: a number key and Enter,
        # then A (agree with the AI and go on), twice.
        wait_for_analyses(app)
        log_in(page, url, "rob")
        page.goto(url + "worklist/?reviewed=no&status=analysed&sort=oldest")
        shot("08-worklist-to-read")
        first_url = page.locator("table.worklist tr.row-link a").first.get_attribute("href")
        page.goto(url.rstrip("/") + first_url)
        read_urls = []
        for i in range(3):
            page.wait_for_selector("#review-form")
            read_urls.append(page.url.split("?")[0])
            if i == 0:
                finding = page.inner_text(".finding-name").strip()
                key = page.get_attribute(f"#review-form input[name=finding][value='{finding}']", "data-key")
                page.keyboard.press(key)
                shot("09-finding-chosen-by-key")
                page.keyboard.press("Enter")
            else:
                page.keyboard.press("a")
            page.wait_for_function(f"() => !location.href.startsWith({read_urls[-1]!r})")
        assert len(set(read_urls)) == 3
        signed = app.query("SELECT COUNT(*) FROM clinical_review")[0][0]
        assert signed == 3, signed

        # 6. An amendment: the PDF shows it above the original.
        page.goto(read_urls[0])
        page.click("summary:has-text('Amend')")
        page.check("#amend-form input[name=finding][value='Other abnormality']")
        page.fill("#amend-detail", "Right pleural effusion")
        page.fill("#amend-note", "Compared with the lateral: fluid.")
        page.click("button:has-text('Sign addendum')")
        page.wait_for_selector(".review.addendum")
        shot("10-amended")
        pdf = page.request.get(read_urls[0] + "report.pdf").body()
        (ARTIFACTS / "report-amended.pdf").write_bytes(pdf)
        text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
        assert "Addendum" in text and "Original read" in text
        assert text.index("Right pleural effusion") < text.index("Original read")

        # 7. A film the radiologist cannot read goes back to the radiographer.
        page.goto(url + "worklist/?reviewed=no&status=analysed")
        page.locator("table.worklist tr.row-link td").nth(3).click()  # the whole row opens the study
        page.wait_for_selector("#review-form")
        page.check("#review-form input[name=finding][value='Not assessable']")
        page.fill("#id_detail", "Rotated, both bases clipped")
        page.click("button:has-text('Sign and stay')")
        page.wait_for_selector(".signed-finding")

        # 8. The worklist shows the signed reads.
        page.goto(url + "worklist/?reviewed=yes")
        table = page.inner_text("table.worklist")
        assert "Other abnormality" in table and "Not assessable" in table
        assert page.locator("table.worklist .signed-finding").count() == 4
        shot("11-worklist-signed-reads")

        page.goto(url + "statistics/")
        assert page.locator("#agreement .confusion svg rect").count() >= 4
        shot("11b-statistics")

        log_in(page, url, "rita")
        assert "Rotated, both bases clipped" in page.inner_text("#retakes")
        shot("12-retake-list")

        log_in(page, url, "admin")
        page.goto(url + "admin/audit/")
        log = page.inner_text("main")
        for words in ("moved from patient RFC-0001 to RFC-0002", "Patient KB-77 merged into RFC-0002", "voided: Test or practice image (practice exposure)",
                      "restored: a real patient's film after all", "addendum signed, now Other abnormality: Right pleural effusion"):
            assert words in log, words
        shot("13-audit-log")
        assert merged_study_url and voided_url
        browser.close()
