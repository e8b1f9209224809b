"""Every URL, every role, and anonymous: allowed pages open, the rest answer 403 or go to login."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from PIL import Image

from django.utils import timezone

from app.clinical.models import Analysis, ImportBatch, Study

from app.core.roles import ACCESS, ADMINISTRATOR, RADIOGRAPHER, RADIOLOGIST
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory

PUBLIC = {"health", "login", "first_run"}
ROLE_OF = {"admin": ADMINISTRATOR, "radiographer": RADIOGRAPHER, "radiologist": RADIOLOGIST}


def all_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns) -> None:  # noqa: ANN001
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns)
            elif isinstance(p, URLPattern) and p.name:
                names.add(p.name)

    walk(get_resolver().url_patterns)
    return names


class AccessMatrixTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        analysis = AnalysisFactory()
        self.study = analysis.study
        # Real objects behind every URL, so an allowed page must really open (no 404 accepted).
        folder = settings.DATA_DIR.derived / f"study-{self.study.pk}" / f"analysis-{analysis.pk}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 90, np.uint8)).save(folder / "display.png")
        Analysis.objects.filter(pk=analysis.pk).update(result={**analysis.result, "images": {"display": (folder / "display.png").relative_to(settings.DATA_DIR.root).as_posix()}})
        batch = ImportBatch.objects.create(folder="/media/usb/day", created_by=self.radiographer, scanned=True)
        voided = AnalysisFactory().study
        Study.objects.filter(pk=voided.pk).update(voided_at=timezone.now(), void_reason="test")
        Image.fromarray(np.full((64, 64), 90, np.uint8)).save(voided.path)
        Image.fromarray(np.full((64, 64), 90, np.uint8)).save(self.study.path)
        from app.analysis.site_calibration.models import SiteProfileRecord
        from app.inference.site_profile import SiteProfile

        profile = SiteProfile(pack_name="cxr-4class-lite", pack_version="3.0.0", classes=("COVID-19", "Lung Opacity", "Normal", "Viral Pneumonia"),
                              target="COVID-19", weights=(1.0, 0.0, 0.0, 0.0), intercept=0.0, threshold=0.3)
        site_record = SiteProfileRecord.objects.create(pack_name="cxr-4class-lite", pack_version="3.0.0", version=1, profile=profile.to_dict())
        self.kwargs = {
            "patient_detail": {"pk": self.study.patient.pk},
            "patient_edit": {"pk": self.study.patient.pk},
            "study_detail": {"pk": self.study.pk},
            "study_status": {"pk": self.study.pk},
            "study_image": {"pk": self.study.pk, "kind": "display"},
            "study_pixels": {"pk": self.study.pk},
            "study_retry": {"pk": self.study.pk},
            "study_analyse_anyway": {"pk": self.study.pk},
            "study_compare": {"pk": self.study.pk},
            "study_send": {"pk": self.study.pk},
            "study_comparisons": {"pk": self.study.pk},
            "study_review": {"pk": self.study.pk},
            "study_report": {"pk": self.study.pk},
            "study_json": {"pk": self.study.pk},
            "study_dicom": {"pk": self.study.pk, "kind": "sr"},
            "batch_import_detail": {"pk": batch.pk},
            "batch_import_resume": {"pk": batch.pk},
            "batch_import_confirm": {"pk": batch.pk},
            "study_amend": {"pk": self.study.pk},
            "study_retake_done": {"pk": self.study.pk},
            "study_move": {"pk": self.study.pk},
            "study_void": {"pk": self.study.pk},
            "study_restore": {"pk": voided.pk},
            "patient_merge": {"pk": self.study.patient.pk},
            "voided_image": {"pk": voided.pk},
            "statistics_csv": {"table": "confusion"},
            "user_edit": {"pk": self.radiographer.pk},
            "user_reset_password": {"pk": self.radiographer.pk},
            "user_unlock": {"pk": self.radiographer.pk},
            "site_profile": {"pk": site_record.pk},
            "site_profile_activate": {"pk": site_record.pk},
            "model_card_pack": {"name": "cxr-4class-lite", "version": "3.0.0"},
            "pack_file": {"name": "cxr-4class-lite", "version": "3.0.0", "path": "evaluation/test-roc.png"},
        }

    def test_every_url_is_in_the_access_table(self) -> None:
        self.assertEqual(all_url_names() - PUBLIC, set(ACCESS))

    def test_the_matrix(self) -> None:
        for name, allowed in ACCESS.items():
            url = reverse(name, kwargs=self.kwargs.get(name))
            self.client.logout()
            r = self.client.get(url)
            if name == "logout":
                continue  # Django's logout is POST-only (405) for everyone
            self.assertEqual(r.status_code, 302, f"anonymous {name}")
            self.assertTrue(r["Location"].startswith("/login/"), name)
            for persona, user in self.personas.items():
                self.client.login(username=user.username, password=PASSWORD)
                r = self.client.get(url)
                if ROLE_OF[persona] in allowed:
                    # 405: a POST-only endpoint reached (its method check comes after the role check).
                    self.assertIn(r.status_code, (200, 302, 405), f"{persona} {name}")
                else:
                    self.assertEqual(r.status_code, 403, f"{persona} {name}")

    def test_a_radiographer_cannot_sign_a_review(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        r = self.client.post(reverse("study_review", kwargs={"pk": self.study.pk}), {"finding": "Normal", "note": "x"})
        self.assertEqual(r.status_code, 403)
        self.assertFalse(self.study.reviews.exists())

    def test_an_account_without_a_role_sees_nothing_clinical(self) -> None:
        from django.contrib.auth.models import User

        User.objects.create_user("nobody", password=PASSWORD)
        self.client.login(username="nobody", password=PASSWORD)
        self.assertEqual(self.client.get(reverse("worklist")).status_code, 403)
        self.assertEqual(self.client.get(reverse("home")).status_code, 403)
