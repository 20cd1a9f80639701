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
ALLOWED_HOSTS = config.allowed_hosts()
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
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "textdesk.compliance.audit.CurrentRequest",
    "textdesk.org.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "textdesk.web.middleware.RefusalMiddleware",
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
# Seconds a thread waits for a pooled PostgreSQL connection (Django's pool, the webhooks' pool) before failing.
DB_POOL_TIMEOUT = config.db_pool_timeout()
# Under load (a routing pass found 2 messages or more, but not a full batch), a worker waits this long before
# its next pass, so that each pass routes many messages at once (a pass costs a dozen round trips whatever its
# size); a trickle of messages is routed at once, and none waits more than this in addition.
ROUTING_LINGER_MS = config.env_int("ROUTING_LINGER_MS", 40)
# Seconds a message accepted by its provider may wait for a final delivery report; then the worker's sweeper asks
# the provider (where it can be asked) or shows the message as "No delivery report".
DELIVERY_REPORT_TIMEOUT = config.env_int("DELIVERY_REPORT_TIMEOUT", 6 * 3600)
# Seconds between two passes of the outbound sweeper (see messaging.outbound.sweeper).
OUTBOUND_SWEEP_SECONDS = config.env_int("OUTBOUND_SWEEP_SECONDS", 30)
# Webhook messages of one process written together under load (messaging/inbound/intake_pg.py): statements in flight
# at once, and rows per statement at most.
WEBHOOK_WRITERS = config.env_int("WEBHOOK_WRITERS", 2)
WEBHOOK_BATCH_ROWS = config.env_int("WEBHOOK_BATCH_ROWS", 64)
# Threads per web process writing webhooks (they borrow from Django's pool on PostgreSQL), and on PostgreSQL the size
# of the webhooks' own pool of asynchronous connections (messaging/inbound/intake_pg.py). SQLite has one writer at
# a time: more threads would only queue on its lock through the busy handler's sleeps.
WEBHOOK_DB_THREADS = config.env_int(
    "WEBHOOK_DB_THREADS", 1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 8
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# New passwords (users created or changed through the API, the admin site, createsuperuser): at least 12
# characters, not like the user's name, not a common password, not all digits. The demo's users are created
# directly and keep their demo password.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["textdesk.org.backends.ThrottledModelBackend"]
# Sign-in throttling (textdesk.org.signin): this many failures in a row lock the username or client out.
SIGNIN_FAILURE_LIMIT = config.env_int("SIGNIN_FAILURE_LIMIT", 10)
SIGNIN_LOCKOUT_SECONDS = config.env_int("SIGNIN_LOCKOUT_SECONDS", 15 * 60)
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": BUS_PREFIX}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

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
# Production is served over HTTPS (behind a proxy that terminates TLS, or not): cookies only travel encrypted,
# and browsers are told to use HTTPS only (HSTS) for a year.
SESSION_COOKIE_SECURE = PRODUCTION or PUBLIC_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = config.env_int("HSTS_SECONDS", 365 * 24 * 3600) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
if config.env_bool("BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Content-Security-Policy (django-csp): scripts only from our own static files, never inline; styles may be
# inline (htmx and the admin site set some); live updates and API calls to ourselves only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
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
