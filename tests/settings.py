"""Settings for the test suite: a throw-away data directory and a fast password hasher."""

import os
import tempfile

os.environ.setdefault("CXR_DATA_DIR", tempfile.mkdtemp(prefix="cxr-test-data-"))
os.environ.setdefault("CXR_ENABLE_DIAGNOSTIC_JOBS", "1")

from app.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-axes needs the request in authenticate(); tests that use client.login() run without it,
# and tests/test_lockout.py switches it back on.
AXES_ENABLED = False
