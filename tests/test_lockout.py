from __future__ import annotations

from django.test import override_settings

from tests.base import PASSWORD, BaseTestCase


@override_settings(AXES_ENABLED=True)
class LockoutTestCase(BaseTestCase):
    def test_it_locks_a_user_name_after_five_wrong_passwords(self) -> None:
        for _ in range(4):
            r = self.client.post("/login/", {"username": "bob", "password": "wrong"})
            self.assertContains(r, "did not match")
        r = self.client.post("/login/", {"username": "bob", "password": "wrong"})
        self.assertContains(r, "Too many failed log-ins", status_code=429)
        r = self.client.post("/login/", {"username": "bob", "password": PASSWORD})
        self.assertContains(r, "Too many failed log-ins", status_code=429)
        # Other accounts are not affected.
        r = self.client.post("/login/", {"username": "carol", "password": PASSWORD})
        self.assertRedirects(r, "/")

    def test_a_success_resets_the_count(self) -> None:
        for _ in range(4):
            self.client.post("/login/", {"username": "bob", "password": "wrong"})
        self.assertRedirects(self.client.post("/login/", {"username": "bob", "password": PASSWORD}), "/")
        self.client.logout()
        for _ in range(4):
            self.client.post("/login/", {"username": "bob", "password": "wrong"})
        self.assertRedirects(self.client.post("/login/", {"username": "bob", "password": PASSWORD}), "/")
