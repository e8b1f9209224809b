from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "app.clinical"
    label = "clinical"
    verbose_name = "Patients and studies"

    def ready(self) -> None:
        from app.clinical import batch_import, dicom_send, jobs  # noqa: F401  register clinical.* job kinds
