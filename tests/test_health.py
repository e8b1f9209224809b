from __future__ import annotations

from django.test import TestCase
from django.utils import timezone

from app.jobs.models import WorkerHeartbeat


class HealthTestCase(TestCase):
    def test_it_works_without_login(self) -> None:
        r = self.client.get("/health")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r["Content-Type"], "application/json")
        body = r.json()
        self.assertTrue(body["database"]["ok"])
        self.assertIn("version", body)

    def test_it_reports_no_worker(self) -> None:
        body = self.client.get("/health").json()
        self.assertFalse(body["worker"]["alive"])
        self.assertEqual(body["status"], "degraded")
        self.assertFalse(body["model_pack"]["loaded"])

    def test_it_reports_the_worker_engine(self) -> None:
        WorkerHeartbeat.objects.create(
            worker_id="w1",
            hostname="h",
            pid=1,
            status={
                "state": "ready",
                "device": "NVIDIA GeForce RTX 4060",
                "model_pack": {"loaded": True, "name": "demo", "version": "1.0"},
            },
        )
        body = self.client.get("/health").json()
        self.assertTrue(body["worker"]["alive"])
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["compute_device"], "NVIDIA GeForce RTX 4060")
        self.assertEqual(body["model_pack"]["name"], "demo")

    def test_it_ignores_a_dead_worker(self) -> None:
        WorkerHeartbeat.objects.create(
            worker_id="w1", hostname="h", pid=1, last_seen=timezone.now() - timezone.timedelta(minutes=10)
        )
        self.assertFalse(self.client.get("/health").json()["worker"]["alive"])

    def test_it_refuses_post(self) -> None:
        self.assertEqual(self.client.post("/health").status_code, 405)


class DemonstrationBannerTestCase(TestCase):
    def home_with_pack(self, validated: bool) -> str:
        from django.contrib.auth.models import User

        User.objects.create_user("bob", password="x" * 12)
        self.client.login(username="bob", password="x" * 12)
        pack = {"loaded": True, "name": "cxr-demo", "version": "1", "validated": validated}
        WorkerHeartbeat.objects.create(worker_id="w1", hostname="h", pid=1, status={"state": "ready", "model_pack": pack})
        return self.client.get("/").content.decode()

    def test_every_page_warns_while_an_unvalidated_pack_is_active(self) -> None:
        self.assertIn("Demonstration model, not for diagnosis", self.home_with_pack(validated=False))

    def test_no_banner_for_a_validated_pack(self) -> None:
        self.assertNotIn("Demonstration model", self.home_with_pack(validated=True))
