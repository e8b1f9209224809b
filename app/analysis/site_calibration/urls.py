from django.urls import path

from app.analysis.site_calibration import views

urlpatterns = [
    path("admin/site-calibration/", views.site_calibration, name="site_calibration"),
    path("admin/site-calibration/import/", views.site_profile_import, name="site_profile_import"),
    path("admin/site-calibration/off/", views.site_profile_retire, name="site_profile_retire"),
    path("admin/site-calibration/<int:pk>/", views.site_profile, name="site_profile"),
    path("admin/site-calibration/<int:pk>/activate/", views.site_profile_activate, name="site_profile_activate"),
]
