from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "app.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from django.conf import settings

        if settings.ENABLE_DIAGNOSTIC_JOBS:
            from app.jobs import diagnostics  # noqa: F401  registers diagnostics.* kinds
