from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from app.core.roles import ROLES


class FirstRunForm(UserCreationForm):
    clinic_name = forms.CharField(label=_("Clinic name"), max_length=200, help_text=_("Printed on reports and shown in the title bar."))

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("clinic_name", "username", "first_name", "last_name")

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # The first field of the page is where typing starts (Django focuses the user name).
        self.fields["username"].widget.attrs.pop("autofocus", None)
        self.fields["clinic_name"].widget.attrs["autofocus"] = True

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        if commit:
            user.save()
            from app.core.roles import ADMINISTRATOR, grant

            grant(user, ADMINISTRATOR)
        return user


class NewUserForm(UserCreationForm):
    role = forms.ChoiceField(label=_("Role"), choices=[(r, _(r)) for r in ROLES])

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "first_name", "last_name")
