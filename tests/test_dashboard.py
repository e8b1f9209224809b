from __future__ import annotations

from django.urls import reverse

from app.clinical.models import Study
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory


class DashboardTestCase(BaseTestCase):
    def test_it_counts_today_positives_and_pending_reviews(self) -> None:
        AnalysisFactory(finding="Abnormal", positive=True, seconds=0.4)
        AnalysisFactory(finding="Normal", positive=False, seconds=0.2)
        reviewed = AnalysisFactory(finding="Abnormal", positive=True).study
        Study.objects.filter(pk=reviewed.pk).update(reviewed=True)
        self.client.login(username="bob", password=PASSWORD)
        stats = self.client.get(reverse("home")).context["stats"]
        self.assertEqual(stats["today"], 3)
        self.assertEqual(stats["positives_today"], 2)
        self.assertEqual(stats["pending_review"], 2)
        self.assertEqual(sum(1 for b in stats["chart"]["bars"] if b["height"]), 1)

    def test_the_administrator_sees_status_without_clinical_numbers(self) -> None:
        self.client.login(username="alice", password=PASSWORD)
        r = self.client.get(reverse("home"))
        self.assertNotIn("stats", r.context)
        self.assertContains(r, "Workstation status")

    def test_old_studies_fall_out_of_the_chart_and_a_long_backlog_is_capped(self) -> None:
        from datetime import timedelta
        from unittest import mock

        from django.utils import timezone

        from app.clinical import dashboard

        old = AnalysisFactory(finding="Abnormal", positive=True).study
        Study.objects.filter(pk=old.pk).update(uploaded_at=timezone.now() - timedelta(days=40))
        for _ in range(3):
            AnalysisFactory(finding="Normal", positive=False)
        self.client.login(username="bob", password=PASSWORD)
        with mock.patch.object(dashboard, "COUNT_CAP", 2):
            page = self.client.get(reverse("home"))
        stats = page.context["stats"]
        self.assertEqual((stats["today"], stats["positives_today"]), (3, 0))
        self.assertEqual(sum(b["height"] > 0 for b in stats["chart"]["bars"]), 1)  # 40 days ago is not on the chart
        self.assertEqual((stats["pending_review"], stats["pending_review_more"]), (2, True))  # 4 pending, counted to the cap
        self.assertContains(page, "2+")
