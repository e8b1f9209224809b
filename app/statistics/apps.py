from django.apps import AppConfig


class StatisticsConfig(AppConfig):
    name = "app.statistics"
    label = "statistics"
    verbose_name = "How the AI does against this clinic's radiologists"
