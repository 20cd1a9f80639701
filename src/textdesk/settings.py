"""Django settings, computed from the environment by :mod:`textdesk.config`."""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext_lazy as _

from textdesk import config

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = config.data_dir()

DEBUG = config.env_bool("DEBUG", default=False)
PRODUCTION = config.is_production()
SECRET_KEY = config.secret_key(DATA_DIR)
# Credentials of provider accounts are encrypted with this key (or one derived from SECRET_KEY).
ENCRYPTION_KEY = config.env("ENCRYPTION_KEY")

PUBLIC_URL = config.env("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = [h.strip() for h in config.env("ALLOWED_HOSTS", "*").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]

REDIS_URL = config.env("REDIS_URL")
BUS_PREFIX = config.env("BUS_PREFIX", "textdesk")
DEFAULT_REGION = config.env("DEFAULT_REGION", "US").upper()
MESSAGE_BODY_LIMIT = config.env_int("MESSAGE_BODY_LIMIT", 1000)
WEBHOOK_MAX_BYTES = config.env_int("WEBHOOK_MAX_BYTES", 256 * 1024)
SIMULATOR_URL = config.env("SIMULATOR_URL")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves the API docs page (Swagger UI) from our own static files, not a CDN
    "textdesk.org",
    "textdesk.crm",
    "textdesk.messaging",
    "textdesk.jobs",
    "textdesk.sequences",
    "textdesk.compliance",
    "textdesk.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "textdesk.compliance.audit.CurrentRequest",
    "textdesk.org.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "textdesk.urls"
WSGI_APPLICATION = "textdesk.wsgi.application"
AUTH_USER_MODEL = "org.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "textdesk.web.context.topbar",
            ],
        },
    }
]

DATABASES = {"default": config.database(DATA_DIR).as_django()}
# Under load (a routing pass found 2 messages or more, but not a full batch), a worker waits this long before
# its next pass, so that each pass routes many messages at once (a pass costs a dozen round trips whatever its
# size); a trickle of messages is routed at once, and none waits more than this in addition.
ROUTING_LINGER_MS = config.env_int("ROUTING_LINGER_MS", 40)
# Webhook messages of one process written together under load (messaging/inbound/intake_pg.py): statements in flight
# at once, and rows per statement at most.
WEBHOOK_WRITERS = config.env_int("WEBHOOK_WRITERS", 2)
WEBHOOK_BATCH_ROWS = config.env_int("WEBHOOK_BATCH_ROWS", 64)
# Threads per web process writing webhooks. SQLite has one writer at a time: more threads would only queue on
# its lock through the busy handler's sleeps. PostgreSQL (which mostly takes the event-loop path) takes several.
WEBHOOK_DB_THREADS = config.env_int(
    "WEBHOOK_DB_THREADS", 1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 8
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = config.env("LANGUAGE", "en")
LANGUAGES = [
    ("en", _("English")),
    ("pt-br", _("Portuguese (Brazil)")),
    ("es", _("Spanish")),
    ("it", _("Italian")),
]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = config.env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PUBLIC_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": config.env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
