from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "app.clinical"
    label = "clinical"
    verbose_name = "Patients and studies"

    def ready(self) -> None:
        from app.clinical import jobs  # noqa: F401  registers clinical.analyse_study
