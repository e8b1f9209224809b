"""manage.py import_site_profile PROFILE.json [--activate]: a site profile fitted with
`python -m app.analysis.site_calibration fit`, checked against the active pack and kept as the
next version (activated with --activate). Audited as done by the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from app.analysis import packs
from app.analysis.site_calibration import profiles
from app.inference.site_profile import SiteProfileError


class Command(BaseCommand):
    help = "Import a site profile file for the active model pack."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("profile", type=Path)
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args: Any, profile: Path, activate: bool, **options: Any) -> None:
        pack = packs.active_pack()
        if pack is None:
            raise CommandError("No model pack is active.")
        try:
            record = profiles.import_file(profile.read_bytes(), None, pack)
            if activate:
                profiles.activate(record, None)
        except (OSError, SiteProfileError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Site profile v{record.version} for {pack.name} {pack.version} imported" + (" and activated" if activate else "") + ".")
