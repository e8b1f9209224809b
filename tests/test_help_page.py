"""The help page: reachable from every page, for every role, in the reader's language."""

from __future__ import annotations

from django.urls import reverse

from app.core.models import UserPreference
from tests.base import PASSWORD, BaseTestCase


class HelpPageTestCase(BaseTestCase):
    def test_every_role_reads_it_and_every_page_links_to_it(self) -> None:
        for user in self.personas.values():
            self.client.login(username=user.username, password=PASSWORD)
            page = self.client.get(reverse("help"))
            self.assertContains(page, "What the AI result means, and what it does not")
            self.assertContains(page, "Sign and open the next study")
            self.assertContains(self.client.get(reverse("home")), f'href="{reverse("help")}"')

    def test_it_is_in_the_reader_s_language(self) -> None:
        UserPreference.objects.create(user=self.radiographer, language="pt")
        self.client.login(username="bob", password=PASSWORD)
        self.assertContains(self.client.get(reverse("help")), "Não é um diagnóstico.")
