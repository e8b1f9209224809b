from django.urls import path

from app.corrections import views

urlpatterns = [
    path("studies/<int:pk>/move/", views.study_move, name="study_move"),
    path("studies/<int:pk>/void/", views.study_void, name="study_void"),
    path("studies/<int:pk>/restore/", views.study_restore, name="study_restore"),
    path("patients/<int:pk>/merge/", views.patient_merge, name="patient_merge"),
    path("admin/voided/", views.voided_list, name="voided_list"),
    path("admin/voided/<int:pk>/thumb.png", views.voided_image, name="voided_image"),
]
