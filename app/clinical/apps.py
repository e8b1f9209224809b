from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "app.clinical"
    label = "clinical"
    verbose_name = "Patients and studies"

    def ready(self) -> None:
        from app.clinical import batch_import, jobs  # noqa: F401  register clinical.* job kinds
        from app.dicom import send  # noqa: F401  registers the PACS send job
