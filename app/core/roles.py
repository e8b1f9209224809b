"""The three roles, as Django groups, and who may open which page (enforced in one place).

Every URL name must appear in ACCESS; RoleAccessMiddleware refuses anything not listed (deny by
default), so a new view cannot be forgotten. tests/test_access_matrix.py checks every URL for
every role and for anonymous users.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.utils.translation import gettext_noop

# Group names (stored, never translated); shown translated through these catalogue entries.
RADIOGRAPHER = gettext_noop("Radiographer")
RADIOLOGIST = gettext_noop("Radiologist")
ADMINISTRATOR = gettext_noop("Administrator")
ROLES = (RADIOGRAPHER, RADIOLOGIST, ADMINISTRATOR)

CLINICAL = frozenset({RADIOGRAPHER, RADIOLOGIST})
REVIEWERS = frozenset({RADIOLOGIST})
ADMINS = frozenset({ADMINISTRATOR})
EVERYONE = frozenset(ROLES)

# url name -> roles allowed. Pages marked login_not_required (login, first run, /health) are open.
ACCESS: dict[str, frozenset[str]] = {
    "home": EVERYONE,
    "logout": EVERYONE,
    "password_change": EVERYONE,
    "password_change_done": EVERYONE,
    "preferences": EVERYONE,
    "help": EVERYONE,
    "patient_list": CLINICAL,
    "patient_create": CLINICAL,
    "patient_detail": CLINICAL,
    "patient_edit": CLINICAL,
    "upload": CLINICAL,
    "batch_import_start": CLINICAL,
    "batch_import_detail": CLINICAL,
    "batch_import_resume": CLINICAL,
    "study_detail": CLINICAL,
    "study_status": CLINICAL,
    "study_image": CLINICAL,
    "study_pixels": CLINICAL,
    "study_retry": CLINICAL,
    # Radiographers too: they are at the machine when a portable film is refused; a reason is
    # required and the result always goes to a radiologist as needs-review.
    "study_analyse_anyway": CLINICAL,
    "study_compare": CLINICAL,
    "study_send": CLINICAL,
    "study_comparisons": CLINICAL,
    "study_review": REVIEWERS,
    "study_amend": REVIEWERS,
    "study_retake_done": CLINICAL,
    # Only radiologists' pages poll it (the urgent banner).
    "urgent_banner": REVIEWERS,
    "batch_import_confirm": CLINICAL,
    # Corrections (app/corrections): those who upload and read put mistakes right, saying why;
    # voided studies are seen and restored by an administrator.
    "study_move": CLINICAL,
    "study_void": CLINICAL,
    "patient_merge": CLINICAL,
    "study_restore": ADMINS,
    "voided_list": ADMINS,
    "voided_image": ADMINS,
    # How the AI does against this clinic's radiologists: for those who read and those who run it.
    "statistics": REVIEWERS | ADMINS,
    "statistics_csv": REVIEWERS | ADMINS,
    # Calibrating the pack to this clinic changes every later finding: administrators only.
    "site_calibration": ADMINS,
    "site_profile": ADMINS,
    "site_profile_activate": ADMINS,
    "site_profile_retire": ADMINS,
    "site_profile_import": ADMINS,
    "worklist": CLINICAL,
    "worklist_csv": CLINICAL,
    "worklist_compare": CLINICAL,
    "study_report": CLINICAL,
    "study_json": CLINICAL,
    "study_dicom": CLINICAL,
    "audit_log": ADMINS,
    "audit_log_csv": ADMINS,
    "user_list": ADMINS,
    "user_create": ADMINS,
    "user_edit": ADMINS,
    "user_reset_password": ADMINS,
    "user_unlock": ADMINS,
    "clinic_settings": ADMINS,
    "settings_pacs_echo": ADMINS,
    "settings_receiver_restart": ADMINS,
    "backups": ADMINS,
    "backup_now": ADMINS,
    "restore_check": ADMINS,
    "restore_request": ADMINS,
    "restore_cancel": ADMINS,
    "retention": ADMINS,
    "pack_list": ADMINS,
    "pack_import": ADMINS,
    "pack_activate": ADMINS,
    "pack_rollback": ADMINS,
    # What the AI is and how well it did: for everyone who sees its results.
    "model_card": EVERYONE,
    "model_card_pack": EVERYONE,
    "pack_file": EVERYONE,
}


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    if not user.is_authenticated or not user.is_active:
        return set()
    cached = getattr(user, "_cxr_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._cxr_roles = cached
    return cached


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def ensure_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def grant(user: AbstractBaseUser, *roles: str) -> None:
    ensure_groups()
    user.groups.add(*Group.objects.filter(name__in=roles))
    if hasattr(user, "_cxr_roles"):
        del user._cxr_roles


class RoleAccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict) -> HttpResponse | None:
        if not getattr(view_func, "login_required", True):
            return None  # public page (login, first run, health)
        if not request.user.is_authenticated:
            return None  # LoginRequiredMiddleware redirects to the login page
        match = request.resolver_match
        allowed = ACCESS.get(match.url_name if match else "", frozenset())
        if roles_of(request.user) & allowed:
            return None
        return render(request, "core/forbidden.html", {"allowed": sorted(allowed)}, status=HttpResponseForbidden.status_code)
