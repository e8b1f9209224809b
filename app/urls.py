from django.contrib.auth import views as auth_views
from django.urls import include, path

from app.core import accounts
from app.core.password_reset import PasswordChangeView
from app.core import views as core_views
from app.backups import views as backup_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("health", core_views.health, name="health"),
    path("setup/", core_views.first_run, name="first_run"),
    path("login/", core_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(template_name="core/password_change_done.html"), name="password_change_done"),
    path("", include("app.clinical.urls")),
    path("", include("app.corrections.urls")),
    path("", include("app.statistics.urls")),
    path("", include("app.analysis.site_calibration.urls")),
    path("", include("app.analysis.urls")),
    path("admin/settings/", core_views.clinic_settings, name="clinic_settings"),
    path("admin/settings/pacs-echo/", core_views.settings_pacs_echo, name="settings_pacs_echo"),
    path("admin/settings/restart-receiver/", core_views.settings_receiver_restart, name="settings_receiver_restart"),
    path("preferences/", core_views.preferences, name="preferences"),
    path("help/", core_views.help_page, name="help"),
    path("admin/users/", accounts.user_list, name="user_list"),
    path("admin/users/new/", accounts.user_create, name="user_create"),
    path("admin/users/<int:pk>/", accounts.user_edit, name="user_edit"),
    path("admin/users/<int:pk>/reset-password/", accounts.user_reset_password, name="user_reset_password"),
    path("admin/users/<int:pk>/unlock/", accounts.user_unlock, name="user_unlock"),
    path("admin/audit/", accounts.audit_log, name="audit_log"),
    path("admin/audit/export.csv", accounts.audit_log_csv, name="audit_log_csv"),
    path("admin/backups/", backup_views.backups, name="backups"),
    path("admin/backups/now/", backup_views.backup_now, name="backup_now"),
    path("admin/backups/restore/check/", backup_views.restore_check, name="restore_check"),
    path("admin/backups/restore/", backup_views.restore_request, name="restore_request"),
    path("admin/backups/restore/cancel/", backup_views.restore_cancel, name="restore_cancel"),
    path("admin/retention/", backup_views.retention, name="retention"),
]
