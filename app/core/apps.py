from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "app.core"
    label = "core"
    verbose_name = "Workstation"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from app.core.password_reset import remember_at_login

        user_logged_in.connect(remember_at_login, dispatch_uid="cxr-must-change-password")
