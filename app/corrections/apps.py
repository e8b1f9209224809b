from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "app.corrections"
    label = "corrections"
    verbose_name = "Corrections: move, void, restore, merge"
