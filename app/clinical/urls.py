from django.urls import path

from app.clinical import views

urlpatterns = [
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path("upload/", views.upload, name="upload"),
    path("import/", views.batch_import_start, name="batch_import_start"),
    path("import/<int:pk>/", views.batch_import_detail, name="batch_import_detail"),
    path("import/<int:pk>/resume/", views.batch_import_resume, name="batch_import_resume"),
    path("studies/<int:pk>/", views.study_detail, name="study_detail"),
    path("studies/<int:pk>/status/", views.study_status, name="study_status"),
    path("studies/<int:pk>/image/<str:kind>.png", views.study_image, name="study_image"),
    path("studies/<int:pk>/pixels.u16", views.study_pixels, name="study_pixels"),
    path("studies/<int:pk>/retry/", views.study_retry, name="study_retry"),
    path("studies/<int:pk>/analyse-anyway/", views.study_analyse_anyway, name="study_analyse_anyway"),
    path("studies/<int:pk>/compare/", views.study_compare, name="study_compare"),
    path("studies/<int:pk>/send/", views.study_send, name="study_send"),
    path("studies/<int:pk>/comparisons/", views.study_comparisons, name="study_comparisons"),
    path("studies/<int:pk>/review/", views.study_review, name="study_review"),
    path("studies/<int:pk>/amend/", views.study_amend, name="study_amend"),
    path("studies/<int:pk>/retake-done/", views.study_retake_done, name="study_retake_done"),
    path("urgent/", views.urgent_banner_view, name="urgent_banner"),
    path("import/<int:pk>/confirm/", views.batch_import_confirm, name="batch_import_confirm"),
    path("studies/<int:pk>/report.pdf", views.study_report, name="study_report"),
    path("studies/<int:pk>/export.json", views.study_json, name="study_json"),
    path("studies/<int:pk>/ai-result-<str:kind>.dcm", views.study_dicom, name="study_dicom"),
    path("worklist/", views.worklist, name="worklist"),
    path("worklist/export.csv", views.worklist_csv, name="worklist_csv"),
    path("worklist/compare/", views.worklist_compare, name="worklist_compare"),
]
