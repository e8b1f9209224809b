"""The statistics page: the AI against this clinic's signed reads, checked against a hand count."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from app.clinical.models import Analysis, Review, Study
from app.clinical.reading import sign
from app.statistics import measures
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory

# (AI finding, needs review, radiologist's read) for ten studies signed today.
CASES = [
    ("Abnormal", False, "Abnormal"), ("Abnormal", False, "Abnormal"), ("Abnormal", True, "Abnormal"), ("Abnormal", True, "Normal"),
    ("Normal", False, "Normal"), ("Normal", False, "Normal"), ("Normal", False, "Normal"), ("Normal", True, "Abnormal"),
    ("Normal", False, "Other abnormality"), ("Abnormal", False, "Not assessable"),
]


def test_wilson_interval_matches_the_published_values() -> None:
    low, high = measures.wilson(0, 10)
    assert (round(low, 4), round(high, 4)) == (0.0, 0.2775)
    low, high = measures.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert measures.wilson(0, 0) is None


def test_kappa_of_a_textbook_table() -> None:
    # Observed 0.70, expected by chance 0.50: kappa 0.40.
    assert round(measures.cohen_kappa([[20, 5], [10, 15]]), 4) == 0.4
    assert measures.cohen_kappa([[0, 0], [0, 0]]) is None


class StatisticsPageTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        now = timezone.now()
        for i, (ai, flagged, read) in enumerate(CASES):
            analysis = AnalysisFactory(finding=ai, positive=ai == "Abnormal")
            result = analysis.result | {"consensus": analysis.result["consensus"] | {"needs_review": flagged}}
            Analysis.objects.filter(pk=analysis.pk).update(result=result, needs_review=flagged, finished_at=now - timedelta(minutes=50 - i))
            Study.objects.filter(pk=analysis.study_id).update(uploaded_at=now - timedelta(minutes=60 - i))
            analysis.refresh_from_db()
            detail = {"Other abnormality": "effusion", "Not assessable": "rotated"}.get(read, "")
            sign(analysis.study, analysis, self.radiologist, finding=read, detail=detail, note="")
        # A voided study counts nowhere.
        voided = AnalysisFactory(finding="Abnormal")
        sign(voided.study, voided, self.radiologist, finding="Normal", note="")
        Study.objects.filter(pk=voided.study_id).update(voided_at=now)

    def test_the_numbers_match_a_hand_count(self) -> None:
        self.client.login(username="carol", password=PASSWORD)
        page = self.client.get(reverse("statistics"))
        self.assertEqual(page.status_code, 200)
        agreement = page.context["agreement"]
        # Rows: radiologist Abnormal, Normal, Other abnormality; columns: AI Abnormal, Normal.
        self.assertEqual(agreement["matrix"], [[3, 1], [1, 3], [0, 1]])
        self.assertEqual((agreement["read"], agreement["not_assessable"]), (9, 1))
        abnormal = agreement["classes"][0]
        self.assertEqual((abnormal.sensitivity.k, abnormal.sensitivity.n), (3, 4))
        self.assertEqual((abnormal.specificity.k, abnormal.specificity.n), (4, 5))  # the effusion the AI called Normal counts as a true negative
        self.assertEqual((abnormal.ppv.k, abnormal.ppv.n), (3, 4))
        self.assertEqual((agreement["override_rate"].k, agreement["override_rate"].n), (3, 9))
        self.assertEqual((agreement["needs_review_rate"].k, agreement["needs_review_rate"].n), (3, 9))
        self.assertEqual((agreement["flag_caught_overrides"].k, agreement["flag_caught_overrides"].n), (2, 3))
        self.assertAlmostEqual(agreement["kappa"], 0.5)  # 6 of 8 agree, chance 0.5
        self.assertTrue(abnormal.sensitivity.too_few)
        self.assertContains(page, "too few")
        turnaround = {t["span"]: t for t in page.context["turnaround"]}
        self.assertAlmostEqual(turnaround["received → analysed"]["median"], 10, places=3)
        workload = page.context["workload"]
        self.assertEqual((workload["voided"], workload["not_assessable"]), (1, 1))

    def test_an_amendment_replaces_the_read_it_amends(self) -> None:
        review = Review.objects.filter(finding="Normal", ai_finding="Abnormal", study__voided_at=None).get()
        sign(review.study, review.analysis, self.radiologist, finding="Abnormal", note="second look", amends=review)
        self.client.login(username="carol", password=PASSWORD)
        agreement = self.client.get(reverse("statistics")).context["agreement"]
        self.assertEqual(agreement["matrix"][0], [4, 1])
        self.assertEqual(agreement["read"], 9)  # still one study, not two reads

    def test_every_table_exports_as_csv(self) -> None:
        self.client.login(username="alice", password=PASSWORD)
        for table in ("confusion", "classes", "summary", "turnaround", "per_day", "per_user"):
            r = self.client.get(reverse("statistics_csv", kwargs={"table": table}))
            self.assertEqual(r.status_code, 200, table)
            rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
            self.assertGreater(len(rows), 1, table)
        confusion = list(csv.reader(io.StringIO(self.client.get(reverse("statistics_csv", kwargs={"table": "confusion"})).content.decode("utf-8-sig"))))
        self.assertEqual(confusion[1], ["Abnormal", "3", "1"])

    def test_radiographers_do_not_see_it(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        self.assertEqual(self.client.get(reverse("statistics")).status_code, 403)

    def test_an_empty_period_says_so(self) -> None:
        self.client.login(username="carol", password=PASSWORD)
        page = self.client.get(reverse("statistics"), {"from": "2001-01-01", "to": "2001-01-31"})
        self.assertContains(page, "No signed reads in this period")
        self.assertContains(self.client.get(reverse("statistics"), {"from": "not-a-date"}), "Dates are written YYYY-MM-DD")
