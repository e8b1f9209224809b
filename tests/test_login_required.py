from __future__ import annotations

from django.contrib.auth.models import User
from django.test import TestCase

from tests.base import PASSWORD, BaseTestCase


class FirstRunTestCase(TestCase):
    def test_it_sends_a_fresh_install_to_setup(self) -> None:
        r = self.client.get("/login/")
        self.assertRedirects(r, "/setup/")

    def test_it_creates_the_administrator_and_clinic(self) -> None:
        r = self.client.post(
            "/setup/",
            {
                "clinic_name": "Riverside Field Clinic",
                "username": "admin",
                "first_name": "Ada",
                "last_name": "Okafor",
                "password1": "a sensible passphrase",
                "password2": "a sensible passphrase",
            },
        )
        self.assertRedirects(r, "/")
        user = User.objects.get(username="admin")
        from app.core.roles import ADMINISTRATOR, has_role

        self.assertTrue(has_role(user, ADMINISTRATOR))
        self.assertContains(self.client.get("/"), "Riverside Field Clinic")

    def test_it_refuses_a_weak_password(self) -> None:
        r = self.client.post(
            "/setup/",
            {"clinic_name": "X", "username": "admin", "password1": "12345678", "password2": "12345678"},
        )
        self.assertEqual(r.status_code, 200)
        self.assertFalse(User.objects.exists())
        self.assertContains(r, "too short")

    def test_it_is_closed_once_an_account_exists(self) -> None:
        User.objects.create_user("someone", password=PASSWORD)
        r = self.client.post(
            "/setup/",
            {"clinic_name": "X", "username": "intruder", "password1": "a sensible passphrase", "password2": "a sensible passphrase"},
        )
        self.assertRedirects(r, "/", fetch_redirect_response=False)
        self.assertFalse(User.objects.filter(username="intruder").exists())


class LoginRequiredTestCase(BaseTestCase):
    def test_it_redirects_anonymous_users_to_login(self) -> None:
        r = self.client.get("/")
        self.assertRedirects(r, "/login/?next=/")

    def test_it_logs_in(self) -> None:
        r = self.client.post("/login/", {"username": "bob", "password": PASSWORD})
        self.assertRedirects(r, "/")
        self.assertContains(self.client.get("/"), "Workstation status")

    def test_it_rejects_a_wrong_password(self) -> None:
        r = self.client.post("/login/", {"username": "bob", "password": "nope"})
        self.assertContains(r, "did not match")

    def test_it_enforces_csrf(self) -> None:
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        r = client.post("/login/", {"username": "bob", "password": PASSWORD})
        self.assertEqual(r.status_code, 403)

    def test_it_sends_security_headers(self) -> None:
        r = self.client.get("/login/")
        self.assertIn("default-src 'self'", r["Content-Security-Policy"])
        self.assertEqual(r["X-Frame-Options"], "DENY")
        self.assertEqual(r["X-Content-Type-Options"], "nosniff")
