from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "app.maintenance"
    label = "maintenance"
    verbose_name = "Backups and maintenance"

    def ready(self) -> None:
        from app.maintenance import jobs  # noqa: F401  registers the backup job and its daily check
