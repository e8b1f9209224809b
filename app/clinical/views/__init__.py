"""The clinical pages, one module per area; urls.py reaches them all through this package."""

from app.clinical.views.patients import patient_list, patient_create, patient_edit, patient_detail  # noqa: F401
from app.clinical.views.studies import upload, study_detail, study_status, study_image, study_dicom, study_send, study_retry, study_compare, study_comparisons, study_analyse_anyway, study_retake_done, study_pixels  # noqa: F401
from app.clinical.views.reading import study_review, study_amend  # noqa: F401
from app.clinical.views.urgent import urgent_banner_view  # noqa: F401
from app.clinical.views.worklist import worklist, worklist_compare  # noqa: F401
from app.clinical.views.exports import csv_cell, download_name, worklist_csv, study_json, study_report  # noqa: F401
from app.clinical.views.imports import batch_import_start, batch_import_detail, batch_import_resume, batch_import_confirm  # noqa: F401
