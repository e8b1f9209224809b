from django.apps import AppConfig


class BackupsConfig(AppConfig):
    # No models: the label only names the app. Its job kinds keep the "maintenance." prefix they
    # have always had, because queued jobs in existing databases name them.
    name = "app.backups"
    label = "backups"
    verbose_name = "Backups and retention"

    def ready(self) -> None:
        from app.backups import jobs  # noqa: F401  registers the backup job and its daily check
