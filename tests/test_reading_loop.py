"""The radiologist's reading loop: nothing pre-selected, Agree with AI, Sign & next in the
worklist's order, other abnormality and not assessable, one signature then addenda, errors
beside the buttons, and the worklist showing the signed read."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from app.audit.models import AuditEvent
from app.clinical.models import Study
from tests.base import PASSWORD, BaseTestCase
from tests.clinical_factories import AnalysisFactory


class ReadingLoopTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        now = timezone.now()
        # Three unread studies: two positives (newest first) and a normal.
        self.first = AnalysisFactory(finding="Abnormal", positive=True).study
        self.second = AnalysisFactory(finding="Abnormal", positive=True).study
        self.third = AnalysisFactory(finding="Normal", positive=False).study
        for i, study in enumerate([self.first, self.second, self.third]):
            Study.objects.filter(pk=study.pk).update(uploaded_at=now - timedelta(minutes=i))
        self.client.login(username="carol", password=PASSWORD)

    def review(self, study: Study, **data: str):  # noqa: ANN201
        return self.client.post(reverse("study_review", kwargs={"pk": study.pk}), data)

    def test_nothing_is_pre_selected_and_the_keys_are_on_the_page(self) -> None:
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.first.pk}))
        self.assertNotRegex(page.content.decode(), r'type="radio" name="finding"[^>]*checked')
        for choice in ("Abnormal", "Normal", "Other abnormality", "Not assessable"):
            self.assertContains(page, f'value="{choice}"')
        self.assertContains(page, 'data-key="4"')
        self.assertContains(page, "Agree with AI (Abnormal)")
        self.assertContains(page, "<kbd>?</kbd>")
        r = self.review(self.first, action="sign_next")
        self.assertContains(r, "Choose a finding", status_code=400)
        # The error is next to the buttons that caused it, not above the fold.
        html = r.content.decode()
        self.assertLess(html.index('id="read-errors"'), html.index('id="sign-next"'))
        self.assertGreater(html.index('id="read-errors"'), html.index('name="note"'))

    def test_sign_and_next_walks_the_worklist_in_its_order(self) -> None:
        r = self.review(self.first, action="agree_next")
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": self.second.pk}), fetch_redirect_response=False)
        r = self.review(self.second, finding="Normal", note="Old scarring only.", action="sign_next")
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": self.third.pk}), fetch_redirect_response=False)
        r = self.review(self.third, finding="Normal", action="sign_next")
        self.assertRedirects(r, reverse("worklist"), fetch_redirect_response=False)  # none left
        reads = {s.pk: (s.final_finding, s.final_agrees) for s in Study.objects.all()}
        self.assertEqual(reads, {self.first.pk: ("Abnormal", True), self.second.pk: ("Normal", False), self.third.pk: ("Normal", True)})

    def test_sign_and_next_keeps_the_worklist_filter(self) -> None:
        r = self.review(self.first, action="agree_next", worklist="finding=Abnormal&sort=newest")
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": self.second.pk}) + "?finding=Abnormal&sort=newest", fetch_redirect_response=False)
        r = self.review(self.second, action="agree_next", worklist="finding=Abnormal&sort=newest")
        self.assertRedirects(r, reverse("worklist") + "?finding=Abnormal&sort=newest", fetch_redirect_response=False)
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.second.pk}) + "?finding=Abnormal&sort=newest")
        self.assertContains(page, f'id="previous-study" href="{reverse("study_detail", kwargs={"pk": self.first.pk})}?finding=Abnormal&amp;sort=newest"')

    def test_a_study_is_signed_once_then_amended_with_an_addendum(self) -> None:
        self.review(self.first, action="agree_next")
        again = self.review(self.first, finding="Normal", note="changed my mind", action="sign")
        self.assertContains(again, "already signed by Carol", status_code=400)
        self.assertEqual(self.first.reviews.count(), 1)
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.first.pk}))
        self.assertContains(page, "Amend")
        self.assertNotContains(page, 'id="review-form"')
        r = self.client.post(reverse("study_amend", kwargs={"pk": self.first.pk}), {"finding": "Normal", "note": ""})
        self.assertContains(r, "Say why the read changes", status_code=400)
        r = self.client.post(reverse("study_amend", kwargs={"pk": self.first.pk}), {"finding": "Normal", "note": "Compared with the old film: unchanged scar."})
        self.assertRedirects(r, reverse("study_detail", kwargs={"pk": self.first.pk}), fetch_redirect_response=False)
        original, addendum = self.first.reviews.order_by("signed_at", "id")
        self.assertEqual((original.finding, original.amends), ("Abnormal", None))
        self.assertEqual((addendum.finding, addendum.amends), ("Normal", original))
        self.first.refresh_from_db()
        self.assertEqual((self.first.final_finding, self.first.final_agrees), ("Normal", False))
        self.assertTrue(AuditEvent.objects.filter(action="amended", summary__contains="now Normal (was Abnormal)").exists())
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.first.pk})).content.decode()
        self.assertLess(page.index("Addendum"), page.index("Original read"))  # newest first

    def test_other_abnormality_and_not_assessable_need_a_word(self) -> None:
        r = self.review(self.first, finding="Other abnormality", action="sign")
        self.assertContains(r, "Say what the other abnormality is", status_code=400)
        r = self.review(self.first, finding="Other abnormality", detail="Right pleural effusion", action="sign")
        self.assertEqual(r.status_code, 302)
        self.assertEqual(self.first.reviews.get().finding_text, "Other abnormality: Right pleural effusion")
        r = self.review(self.second, finding="Not assessable", action="sign")
        self.assertContains(r, "Say why the film cannot be read", status_code=400)

    def test_a_not_assessable_read_reaches_the_radiographers_retake_list(self) -> None:
        self.review(self.second, finding="Not assessable", detail="Rotated, bases clipped", action="sign")
        self.client.login(username="bob", password=PASSWORD)
        home = self.client.get(reverse("home"))
        self.assertContains(home, "Retake needed")
        self.assertContains(home, "Rotated, bases clipped")
        self.assertContains(home, f"{reverse('upload')}?patient={self.second.patient_id}")
        self.client.post(reverse("study_retake_done", kwargs={"pk": self.second.pk}))
        self.assertNotContains(self.client.get(reverse("home")), "Rotated, bases clipped")

    def test_the_worklist_shows_the_signed_read_and_whether_it_overrode_the_ai(self) -> None:
        self.review(self.first, finding="Normal", note="Nipple shadow.", action="sign")
        self.review(self.second, action="agree_next")
        listing = self.client.get(reverse("worklist")).content.decode()
        row = listing[listing.index(self.first.patient.patient_id):]
        row = row[: row.index("</tr>")]
        self.assertIn('class="signed-finding">Normal</strong>', row)
        self.assertIn("overrode AI", row)
        self.assertNotIn("needs review", row)
        self.assertNotIn("finding positive", row)  # the AI's red positive is quiet once read
        second = listing[listing.index(self.second.patient.patient_id):]
        self.assertIn("agreed", second[: second.index("</tr>")])
        self.assertIn('data-href="', listing)  # the whole row opens the study

    def test_a_radiographer_sees_no_reading_form(self) -> None:
        self.client.login(username="bob", password=PASSWORD)
        page = self.client.get(reverse("study_detail", kwargs={"pk": self.first.pk}))
        self.assertNotContains(page, 'id="review-form"')
        self.assertNotContains(page, "Agree with AI")
