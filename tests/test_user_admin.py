"""User administration: roles (more than one), deactivation, password reset with a forced change,
unlocking; every action audited; the last active administrator cannot be removed."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse

from app.audit.models import AuditEvent
from app.core.roles import ADMINISTRATOR, RADIOGRAPHER, roles_of
from tests.base import PASSWORD, BaseTestCase


class UserAdminTestCase(BaseTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client.login(username="alice", password=PASSWORD)

    def edit(self, user: User, **data: object):  # noqa: ANN201
        fields = {"first_name": user.first_name, "last_name": "", "roles": sorted(roles_of(user)), "is_active": "on"} | data
        if fields.get("is_active") is False:
            fields.pop("is_active")
        return self.client.post(reverse("user_edit", kwargs={"pk": user.pk}), fields)

    def test_an_administrator_can_also_be_a_radiographer(self) -> None:
        r = self.edit(self.admin, roles=[ADMINISTRATOR, RADIOGRAPHER])
        self.assertRedirects(r, reverse("user_list"))
        self.admin.refresh_from_db()
        self.assertEqual(roles_of(User.objects.get(pk=self.admin.pk)), {ADMINISTRATOR, RADIOGRAPHER})
        self.assertEqual(self.client.get(reverse("worklist")).status_code, 200)  # the clinical pages open now
        self.assertTrue(AuditEvent.objects.filter(summary="Account alice: roles Administrator → Administrator, Radiographer").exists())

    def test_the_last_active_administrator_is_kept(self) -> None:
        r = self.edit(self.admin, roles=[RADIOGRAPHER])
        self.assertContains(r, "the only active administrator", status_code=400)
        r = self.edit(self.admin, is_active=False)
        self.assertContains(r, "the only active administrator", status_code=400)
        self.assertEqual(roles_of(User.objects.get(pk=self.admin.pk)), {ADMINISTRATOR})

    def test_a_deactivated_account_cannot_log_in(self) -> None:
        self.edit(self.radiographer, is_active=False)
        self.client.logout()
        self.assertFalse(self.client.login(username="bob", password=PASSWORD))
        self.assertTrue(AuditEvent.objects.filter(summary="Account bob: deactivated").exists())

    def test_a_reset_password_must_be_changed_at_the_next_login(self) -> None:
        r = self.client.post(reverse("user_reset_password", kwargs={"pk": self.radiographer.pk}))
        temporary = r.context["temporary"]
        self.assertContains(r, temporary)
        self.client.logout()
        self.assertFalse(self.client.login(username="bob", password=PASSWORD))
        self.assertTrue(self.client.login(username="bob", password=temporary))
        self.assertRedirects(self.client.get(reverse("worklist")), reverse("password_change"))
        r = self.client.post(reverse("password_change"), {"old_password": temporary, "new_password1": "a-new-long-password-9", "new_password2": "a-new-long-password-9"})
        self.assertRedirects(r, reverse("password_change_done"))
        self.assertEqual(self.client.get(reverse("worklist")).status_code, 200)
        self.assertTrue(AuditEvent.objects.filter(summary__startswith="Account bob: password reset by an administrator").exists())

    @override_settings(AXES_ENABLED=True)
    def test_a_locked_user_name_is_unlocked(self) -> None:
        from django.test import Client

        other = Client()
        for _ in range(5):
            other.post(reverse("login"), {"username": "bob", "password": "wrong"})
        self.assertContains(other.post(reverse("login"), {"username": "bob", "password": PASSWORD}), "Too many failed log-ins", status_code=429)
        self.assertContains(self.client.get(reverse("user_list")), "<strong class=\"error\">locked</strong>", html=False)
        self.client.post(reverse("user_unlock", kwargs={"pk": self.radiographer.pk}))
        r = other.post(reverse("login"), {"username": "bob", "password": PASSWORD})
        self.assertRedirects(r, "/")
        self.assertTrue(AuditEvent.objects.filter(summary="Account bob unlocked after wrong passwords").exists())
