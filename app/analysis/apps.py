from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "app.analysis"
    label = "analysis"
    verbose_name = "Analysis"

    def ready(self) -> None:
        from app.analysis import engine_service, jobs, packs  # noqa: F401  they register their job kinds
        from app.jobs.registry import register_warmup

        # Runs in the worker (thread or process) at start-up, never in a web request: loading
        # torch and the models takes seconds and must not block the UI.
        register_warmup(engine_service.warm_up)
