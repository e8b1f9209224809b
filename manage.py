#!/usr/bin/env python
"""Django's command-line utility (migrations, runworker, createsuperuser...)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    if os.name == "posix":
        from app.platform.datadir import PRIVATE_UMASK

        os.umask(PRIVATE_UMASK)  # runworker and migrate write patient data too
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
