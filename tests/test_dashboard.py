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
