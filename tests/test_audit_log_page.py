"""The audit log an administrator reads: filters by date, user, action and patient, actions in
words, CSV export, links to the study for those who may open it."""

from __future__ import annotations

import csv
import io

from django.urls import reverse

from app.audit import trail as audit
from app.core.roles import RADIOGRAPHER, grant
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory, PatientFactory


class AuditLogPageTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.study = AnalysisFactory(study__patient=PatientFactory(patient_id="RFC-0042")).study
        other = AnalysisFactory().study
        audit.record(self.radiographer, audit.VOIDED, self.study, f"Study {self.study.pk} of patient RFC-0042 voided: Test or practice image")
        audit.record(self.radiologist, audit.REVIEWED, other, f"Study {other.pk}: reviewer confirmed Normal")
        self.client.login(username="alice", password=PASSWORD)

    def test_it_filters_by_patient_user_and_action_and_says_actions_in_words(self) -> None:
        page = self.client.get(reverse("audit_log"), {"patient": "RFC-0042"})
        self.assertContains(page, "voided: Test or practice image")
        self.assertNotContains(page, "the radiologist agreed with the AI: Normal")
        self.assertContains(page, "<td>voided</td>", html=False)
        page = self.client.get(reverse("audit_log"), {"username": "carol", "action": "reviewed"})
        self.assertContains(page, "the radiologist agreed with the AI: Normal")
        self.assertNotContains(page, "voided: Test")
        self.assertContains(self.client.get(reverse("audit_log"), {"from": "yesterday"}), "Dates are written YYYY-MM-DD")
        self.assertContains(self.client.get(reverse("audit_log"), {"from": "2001-01-01", "to": "2001-01-02"}), "No events match.")

    def test_the_csv_follows_the_filters(self) -> None:
        r = self.client.get(reverse("audit_log_csv"), {"patient": "RFC-0042"})
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        self.assertEqual(rows[0], ["when", "user", "action", "object", "summary"])
        self.assertEqual([row[2] for row in rows[1:]], ["voided"])

    def test_an_administrator_who_also_reads_gets_links_to_the_study(self) -> None:
        self.assertNotContains(self.client.get(reverse("audit_log")), reverse("study_detail", kwargs={"pk": self.study.pk}))
        grant(self.admin, RADIOGRAPHER)
        self.assertContains(self.client.get(reverse("audit_log")), reverse("study_detail", kwargs={"pk": self.study.pk}))


class AuditSentencesTestCase(BaseTestCase):
    def test_known_events_read_in_the_reader_s_language_and_unknown_ones_as_stored(self) -> None:
        from django.utils import translation

        from app.audit.sentences import in_words

        with translation.override("fr"):
            self.assertEqual(in_words("Study 12 of patient RFC-1 viewed"), "Étude 12 du patient RFC-1 ouverte")
            self.assertEqual(in_words("Study 3: quality gate overruled (lateral), analysed anyway"),
                             "Étude 3 : analysée malgré le contrôle qualité (il ressemblait à un cliché de profil)")
            self.assertEqual(in_words("Something rare happened"), "Something rare happened")
        self.assertEqual(in_words("Study 12 moved from patient A-1 to B-2: wrong desk"), "Study 12 moved from patient A-1 to B-2: wrong desk")
