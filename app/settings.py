"""Django settings. Everything that differs between installs comes from the environment.

The launcher sets CXR_DATA_DIR before Django is imported; management commands and tests may set
it too, otherwise the platform's per-user data directory is used.

Every environment variable it reads (CXR_*) is in one table with its type, default and meaning:
app/platform/options.py (`python -m app.platform.options` prints it; README's Options section is that table).
"""

from __future__ import annotations

from datetime import timedelta

import dj_database_url

from app import __version__

from app.platform import options
from app.platform.datadir import resolve
from app.platform.install_dir import INSTALL_DIR, UI_DIR





DATA_DIR = resolve()
DATA_DIR.prepare()

APP_VERSION = __version__
SECRET_KEY = DATA_DIR.secret_key_file.read_text(encoding="ascii").strip()
DEBUG = options.read("CXR_DEBUG")

# The server binds to 127.0.0.1 only; these are the names the browser may use for it.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "app.core",
    "app.jobs",
    "app.analysis",
    "app.audit",
    "app.clinical",
    "app.backups",
    "app.corrections",
    "app.statistics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "app.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "app.core.idle.IdleTimeoutMiddleware",
    "app.core.language.LanguageMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "app.core.roles.RoleAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "app.core.password_reset.RequirePasswordChangeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "app.core.middleware.DiskFullMiddleware",
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [UI_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "app.core.context_processors.app_info",
                "app.clinical.urgent.urgent_banner",
            ],
        },
    },
]

DATABASE_URL = options.read("CXR_DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR.db_path,
            "OPTIONS": {
                # WAL lets the UI read while the worker writes; IMMEDIATE transactions take the
                # write lock up front so two writers queue on the busy timeout instead of failing
                # with "database is locked" half-way through a transaction.
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "diskcache.DjangoCache",
        "LOCATION": str(DATA_DIR.cache),
        "TIMEOUT": 300,
        "OPTIONS": {"size_limit": 2**30},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Log-in lockout (django-axes): 5 wrong passwords for one user name lock it for 15 minutes. By
# user name, not IP: everyone at a workstation comes from 127.0.0.1.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "core/locked_out.html"
AXES_VERBOSE = False
# axes warns when lockout ignores the IP address; here every user comes from 127.0.0.1, so an IP
# lockout would lock the whole clinic out at once. Locking by user name is the deliberate choice.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# The app in the clinic's language: each person's choice, else the clinic's (app/core/language.py).
LANGUAGES = [("en", "English"), ("fr", "Français"), ("es", "Español"), ("pt", "Português")]
LOCALE_PATHS = [INSTALL_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [UI_DIR / "static"]
# Static files are served straight from the read-only install folder by WhiteNoise; no
# collectstatic step writes anywhere at run time.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Security headers. The app is served over plain HTTP on loopback, so HSTS/SSL redirects do not
# apply; everything else is on.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"
# Idle log-out is app/core/idle.py (background polls do not count as activity); the cookie itself
# lives at most one working day.
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_IDLE_SECONDS = options.read("CXR_SESSION_IDLE_SECONDS")  # 0: the administrator's setting
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Jobs and workers.
INPROCESS_WORKER = options.read("CXR_INPROCESS_WORKER")
WORKER_STALE_SECONDS = options.read("CXR_WORKER_STALE_SECONDS")
ENABLE_DIAGNOSTIC_JOBS = options.read("CXR_ENABLE_DIAGNOSTIC_JOBS")

# Inference.
GPU_MEMORY_BUDGET_MB = options.read("CXR_GPU_MEMORY_BUDGET_MB")
INFERENCE_BACKEND = options.read("CXR_INFERENCE_BACKEND")
# Images stop being stored while this much is still free, so the database always has room to
# record what happened (app/platform/disk_full.py).
DISK_RESERVE_BYTES = options.read("CXR_DISK_RESERVE_MB") * 1024 * 1024
MODEL_PACK = options.read("CXR_MODEL_PACK")
# DICOM receiver (app/dicom/receiver.py): off unless a port is set here or in Clinic settings.
DICOM_PORT = options.read("CXR_DICOM_PORT")
DICOM_AE_TITLE = options.read("CXR_DICOM_AE_TITLE")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(DATA_DIR.logs / "app.log"),
            "maxBytes": 5 * 1024 * 1024,
            "backupCount": 5,
            "encoding": "utf-8",
            "formatter": "plain",
        },
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["file", "console"], "level": "INFO"},
    "loggers": {
        "waitress.queue": {"level": "ERROR"},
    },
}
