"""Every main page and the PDF report in the four languages, in a real browser, screenshots saved.

One person (radiologist and administrator) switches language on the Preferences page and visits
each page; screenshots go to test-artifacts/languages/LANG-PAGE.png and the PDF report of an
analysed real radiograph to LANG-report.pdf (and .png where poppler is installed).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.launched_app import LaunchedApp, wait_for
from tests.shared_data import REPO, a_radiograph, requires_shared

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts" / "languages"
PASSWORD = "a-long-clinic-password"
# A word each page shows only when it is translated (checked, not just photographed).
TITLES = {
    "en": {"worklist/": "Worklist", "patients/": "Patients", "upload/": "Upload radiographs", "model/": "About the model", "admin/packs/": "Model packs", "admin/settings/": "Clinic settings", "admin/backups/": "Backups", "": "Workstation status"},
    "fr": {"worklist/": "Liste de travail", "patients/": "Patients", "upload/": "Ajouter des radiographies", "model/": "À propos du modèle", "admin/packs/": "Packs de modèles", "admin/settings/": "Paramètres de la structure", "admin/backups/": "Sauvegardes", "": "État du poste"},
    "es": {"worklist/": "Lista de trabajo", "patients/": "Pacientes", "upload/": "Subir radiografías", "model/": "Acerca del modelo", "admin/packs/": "Paquetes de modelos", "admin/settings/": "Ajustes del centro", "admin/backups/": "Copias de seguridad", "": "Estado del puesto"},
    "pt": {"worklist/": "Lista de trabalho", "patients/": "Doentes", "upload/": "Carregar radiografias", "model/": "Sobre o modelo", "admin/packs/": "Pacotes de modelos", "admin/settings/": "Definições da unidade", "admin/backups/": "Cópias de segurança", "": "Estado do posto"},
}
REPORT_TITLE = {"en": "Chest radiograph report", "fr": "Compte rendu de radiographie thoracique", "es": "Informe de radiografía de tórax", "pt": "Relatório de radiografia de tórax"}

pytestmark = [
    pytest.mark.slow,
    requires_shared,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it"),
]


@pytest.fixture
def app(tmp_path: Path):  # noqa: ANN201
    launched = LaunchedApp(tmp_path / "data", offline_guard=True).start()
    assert launched.terminate() == 0  # accounts and the study are made while it is stopped
    study = launched.manage(
        "from django.contrib.auth.models import User; from django.core.files import File; "
        "from app.core.roles import grant, ADMINISTRATOR, RADIOLOGIST; from app.core.models import ClinicSettings; "
        "from app.clinical.intake import intake; from app.clinical.models import Patient; "
        "ClinicSettings.objects.update_or_create(pk=1, defaults=dict(clinic_name='Clinique du Fleuve')); "
        f"u = User.objects.create_user('ama', password={PASSWORD!r}, first_name='Ama'); grant(u, ADMINISTRATOR); grant(u, RADIOLOGIST); "
        "p = Patient.objects.create(patient_id='RFC-0042', full_name='Amina Okoro'); "
        f"print(intake(File(open({str(a_radiograph())!r}, 'rb'), name='chest.jpg'), u, p).study.pk)"
    ).split()[-1]
    launched.start()
    wait_for(lambda: launched.query("SELECT status FROM clinical_analysis")[0][0] == "analysed", timeout=180, what="the analysis")
    launched.study_pk = int(study)
    yield launched
    assert launched.terminate() == 0
    assert not (launched.data_dir / "blocked-connections.log").exists()


def test_every_main_page_and_the_report_in_four_languages(app: LaunchedApp) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    from axe_playwright_python.sync_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(app.url + "login/")
        page.fill("#id_username", "ama")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(app.url)
        axe = Axe()
        problems: list[str] = []
        for language, titles in TITLES.items():
            page.goto(app.url + "preferences/")
            page.select_option("#id_language", language)
            page.click("button.primary")
            page.wait_for_selector(f'html[lang="{language}"]')
            # Every other page a person can open, photographed too (their text is checked for every
            # language by tests/test_languages.py).
            others = ["patients/new/", "patients/1/", "patients/1/edit/", "import/", "admin/users/", "admin/users/new/", "admin/audit/",
                      "admin/retention/", "preferences/", "password/", f"studies/{app.study_pk}/"]
            others += ["statistics/", "help/", "admin/voided/", "admin/site-calibration/", "admin/settings/", "worklist/"]
            pages = {**titles, **dict.fromkeys(others)}
            for path, title in pages.items():
                page.goto(app.url + path)
                assert page.get_attribute("html", "lang") == language
                # Accessibility (axe-core, offline): no serious or critical violation on any page.
                for violation in axe.run(page).response["violations"]:
                    if violation["impact"] in ("serious", "critical"):
                        problems.append(f"{language} {path}: {violation['id']} ({violation['impact']}) {[n['target'] for n in violation['nodes']][:3]}")
                # The navigation fits on one line at 1366 px.
                nav = page.locator(".mainnav").bounding_box()
                link = page.locator(".mainnav a").first.bounding_box()
                if nav and link and nav["height"] > link["height"] * 1.6:
                    problems.append(f"{language} {path}: the navigation wraps ({nav['height']:.0f} px high)")
                if title:
                    assert title in page.inner_text("main"), (language, path)
                name = path.strip("/").replace("/", "-").replace("admin-", "") or "home"
                page.screenshot(path=str(ARTIFACTS / f"{language}-{name}.png"), full_page=True)
            report = page.request.get(app.url + f"studies/{app.study_pk}/report.pdf")
            assert report.ok
            pdf = ARTIFACTS / f"{language}-report.pdf"
            pdf.write_bytes(report.body())
            from pypdf import PdfReader

            text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(str(pdf)).pages)
            assert REPORT_TITLE[language] in text
            if shutil.which("pdftoppm"):
                subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf), str(ARTIFACTS / f"{language}-report")], check=True, timeout=60)
        browser.close()
        (ARTIFACTS / "accessibility.txt").write_text("\n".join(problems) + "\n")
        assert problems == [], "\n".join(problems[:40])
