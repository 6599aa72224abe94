"""Settings, read from the environment (and an optional .env) with django-environ.

With nothing set, the app runs in development mode on SQLite and a local Redis, with all its
data under ./data. PRODUCTION=true turns missing secrets into errors instead of defaults.
DEBUG is off unless DEBUG=true: with it on, a 404 lists every URL pattern and an error page
shows settings and local variables, to anyone who can reach the server.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from backupweb.keys import load_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


PRODUCTION = env.bool("PRODUCTION", default=False)
DEBUG = env.bool("DEBUG", default=False)
# An empty DATA_DIR is the default too, not the current directory (keys would land there).
DATA_DIR = Path(env.str("DATA_DIR", default="") or BASE_DIR / "data")


def required_secret(name: str, dev_file: str) -> str:
    """In production a secret must be configured; in development it is generated once."""
    value = env_secret(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when PRODUCTION=true (or {name}_FILE).")
    return load_or_create_secret(DATA_DIR / dev_file, name)


SECRET_KEY = required_secret("SECRET_KEY", "secret_key")
# Fernet keys for account secrets: comma-separated, newest first (first encrypts, all decrypt).
FERNET_KEYS = [k.strip() for k in required_secret("FERNET_KEYS", "fernet_keys").split(",") if k]
# Optional AES-256-GCM key (base64, 32 bytes) for blobs at rest.
ARCHIVE_ENCRYPTION_KEY = env_secret("ARCHIVE_ENCRYPTION_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "backupweb",
    "accounts",
    "archive",
    "jobs",
    "users",
    "audit",
    "sitesettings",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sitesettings.middleware.TimeZoneMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "users.middleware.TwoFactorMiddleware",
    # Last, as django-axes asks: it answers locked-out sign-ins with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backupweb.urls"
WSGI_APPLICATION = "backupweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "backupweb.context_processors.roles",
                "users.context_processors.role",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'backupweb.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; the timeout rides out short locks.
    # A checkpoint every 40 MB of WAL instead of 4 MB: during a backup the default made every
    # other batch commit wait for a checkpoint and its fsyncs. A page cache of up to 64 MB per
    # connection instead of 2 MB: with the default, a backup of 20,000 messages read 237,000
    # pages back from the file and wrote 346,000 (114,000 and 255,000 with 64 MB, 8% faster).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA wal_autocheckpoint=10000; PRAGMA cache_size=-65536;"
            ),
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses sign-ins while a username/address pair is locked out.
AUTHENTICATION_BACKENDS = [
    "users.backends.WebSignInThrottle",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failures for one username from one
# address, that pair is locked out for LOGIN_LOCKOUT_MINUTES; a success resets the count.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "users/locked_out.html"
AXES_VERBOSE = False
# Two-factor sign-in (TOTP, django-otp): optional per user; with REQUIRE_2FA_FOR_ADMINS an
# administrator must set it up before doing anything else.
REQUIRE_2FA_FOR_ADMINS = env.bool("REQUIRE_2FA_FOR_ADMINS", default=False)
OTP_TOTP_ISSUER = "backupweb"
# Audit log (audit/): events older than AUDIT_RETENTION_DAYS are purged daily (0 keeps all).
# Behind a reverse proxy that sets X-Forwarded-For, trust its last entry as the client address.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
AUDIT_TRUST_X_FORWARDED_FOR = env.bool("AUDIT_TRUST_X_FORWARDED_FOR", default=False)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    WHITENOISE_USE_FINDERS = True

ARCHIVE_ROOT = Path(env.str("ARCHIVE_ROOT", default=str(DATA_DIR / "archive")))
# Where message blobs live: empty or file:///path for a local folder (ARCHIVE_ROOT), or
# s3://BUCKET/PREFIX for S3-compatible object storage (archive/s3store.py), whose endpoint and
# credentials come from the standard variables below.
ARCHIVE_URL = env.str("ARCHIVE_URL", default="")
if ARCHIVE_URL.startswith("file://"):
    ARCHIVE_ROOT = Path(ARCHIVE_URL.removeprefix("file://") or ARCHIVE_ROOT)
elif ARCHIVE_URL and not ARCHIVE_URL.startswith("s3://"):
    raise ImproperlyConfigured("ARCHIVE_URL must start with file:// or s3://")
ARCHIVE_S3 = {
    "endpoint_url": env.str("AWS_ENDPOINT_URL", default="")
    or env.str("S3_ENDPOINT_URL", default=""),
    "access_key": env_secret("AWS_ACCESS_KEY_ID"),
    "secret_key": env_secret("AWS_SECRET_ACCESS_KEY"),
    "region": env.str("AWS_DEFAULT_REGION", default="") or env.str("AWS_REGION", default=""),
    # Self-hosted stores (MinIO, SeaweedFS, Garage) need path-style: bucket in the path.
    "addressing_style": env.str("S3_ADDRESSING_STYLE", default="path"),
}
# Server folder an admin fills with large mail files (mbox, zip, Maildir, .mbox packages) to
# import in the background; empty: server imports are off (uploads still work).
IMPORT_DIR = env.str("IMPORT_DIR", default="")
# Background exports (jobs/engine/export.py) are written to DATA_DIR/exports; the jobs
# housekeeping removes files older than EXPORT_RETENTION_DAYS (0 keeps them).
EXPORT_RETENTION_DAYS = env.int("EXPORT_RETENTION_DAYS", default=7)
# Blobs no message uses any more (e.g. after deleting an account with its archive) are removed
# by the storage cleanup (archive/gc.py) once they are older than this many hours: a backup may
# have written a blob whose message is not committed yet.
BLOB_GC_GRACE_HOURS = env.int("BLOB_GC_GRACE_HOURS", default=24)
# Every outbound connection (mail servers, connection tests, notifications, OAuth endpoints)
# refuses internal addresses (loopback, private, link-local...) unless ALLOW_INTERNAL_HOSTS, or
# ALLOWED_INTERNAL_HOSTS lists the host name or its network (e.g. "10.0.0.5,mail.corp.lan").
# Out of production, loopback stays allowed: a laptop's own test servers (mail/outbound.py).
ALLOW_INTERNAL_HOSTS = env.bool("ALLOW_INTERNAL_HOSTS", default=False)
ALLOWED_INTERNAL_HOSTS = env.list(
    "ALLOWED_INTERNAL_HOSTS", default=[] if PRODUCTION else ["127.0.0.0/8", "::1"]
)
CONNECTION_TIMEOUT = env.int("CONNECTION_TIMEOUT", default=20)
# Connection tests a user may run per minute (each one connects wherever the form says).
CONNECTION_TESTS_PER_MINUTE = env.int("CONNECTION_TESTS_PER_MINUTE", default=10)
# A backup with at least this many messages to fetch runs its folders in worker processes, one
# per core (0: the engine's default, 2,000).
BACKUP_PROCESS_THRESHOLD = env.int("BACKUP_PROCESS_THRESHOLD", default=0)

# OAuth2 sign-in for mail accounts (accounts/oauth_clients.py). An entry in the admin
# (Admin -> OAuth clients) overrides these. Register OAUTH_REDIRECT_URL (by default
# SITE_URL + /accounts/oauth/callback/) as the redirect URI with each provider.
OAUTH_REDIRECT_URL = env.str("OAUTH_REDIRECT_URL", default="")
OAUTH_GOOGLE_CLIENT_ID = env.str("OAUTH_GOOGLE_CLIENT_ID", default="")
OAUTH_GOOGLE_CLIENT_SECRET = env_secret("OAUTH_GOOGLE_CLIENT_SECRET")
OAUTH_MICROSOFT_CLIENT_ID = env.str("OAUTH_MICROSOFT_CLIENT_ID", default="")
OAUTH_MICROSOFT_CLIENT_SECRET = env_secret("OAUTH_MICROSOFT_CLIENT_SECRET")
OAUTH_MICROSOFT_TENANT = env.str("OAUTH_MICROSOFT_TENANT", default="common")
OAUTH_GENERIC_NAME = env.str("OAUTH_GENERIC_NAME", default="OAuth2 provider")
OAUTH_GENERIC_CLIENT_ID = env.str("OAUTH_GENERIC_CLIENT_ID", default="")
OAUTH_GENERIC_CLIENT_SECRET = env_secret("OAUTH_GENERIC_CLIENT_SECRET")
OAUTH_GENERIC_AUTHORIZATION_URL = env.str("OAUTH_GENERIC_AUTHORIZATION_URL", default="")
OAUTH_GENERIC_TOKEN_URL = env.str("OAUTH_GENERIC_TOKEN_URL", default="")
OAUTH_GENERIC_DEVICE_URL = env.str("OAUTH_GENERIC_DEVICE_URL", default="")
OAUTH_GENERIC_REVOCATION_URL = env.str("OAUTH_GENERIC_REVOCATION_URL", default="")
OAUTH_GENERIC_USERINFO_URL = env.str("OAUTH_GENERIC_USERINFO_URL", default="")
OAUTH_GENERIC_SCOPES = env.str("OAUTH_GENERIC_SCOPES", default="openid email offline_access")
# An access token is refreshed when it has less than this many seconds left.
OAUTH_REFRESH_MARGIN_SECONDS = env.int("OAUTH_REFRESH_MARGIN_SECONDS", default=300)

# Redis and Celery (SECURITY.md: JSON only, acks late, visibility timeout above the hard limit).
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=6 * 3600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 600
# A message a worker took but never acknowledged (the worker was killed) goes back to the queue
# after the visibility timeout: minutes, not the hours of the longest run. A long run's message
# is delivered again meanwhile, and that copy does nothing: a run is claimed by a conditional
# UPDATE of its row (queued -> running), so only a queued run is ever executed (jobs/runner.py).
CELERY_VISIBILITY_SECONDS = env.int("CELERY_VISIBILITY_SECONDS", default=300)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_SECONDS}
CELERY_WORKER_MAX_TASKS_PER_CHILD = 100
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 512 * 1024  # KiB
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Our LOGGING (one line per event, secrets redacted) applies in workers too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Jobs (jobs/runner.py): a running run heartbeats every second and renews its account lease every
# JOBS_HEARTBEAT_SECONDS; one silent for JOBS_STALE_SECONDS is marked interrupted by the reaper,
# which beat runs every JOBS_REAP_SECONDS (so within a minute of its worker's death), and resumed
# up to JOBS_MAX_ATTEMPTS times. The rest of the housekeeping runs every JOBS_HOUSEKEEPING_SECONDS.
JOBS_HEARTBEAT_SECONDS = env.int("JOBS_HEARTBEAT_SECONDS", default=10)
JOBS_STALE_SECONDS = env.int("JOBS_STALE_SECONDS", default=45)
JOBS_REAP_SECONDS = env.int("JOBS_REAP_SECONDS", default=15)
JOBS_HOUSEKEEPING_SECONDS = env.int("JOBS_HOUSEKEEPING_SECONDS", default=60)
JOBS_MAX_ATTEMPTS = env.int("JOBS_MAX_ATTEMPTS", default=3)
JOBS_TRANSIENT_RETRIES = env.int("JOBS_TRANSIENT_RETRIES", default=3)
JOBS_RETRY_BACKOFF_SECONDS = env.int("JOBS_RETRY_BACKOFF_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "jobs-reap": {"task": "jobs.reap", "schedule": JOBS_REAP_SECONDS},
    "jobs-housekeeping": {"task": "jobs.housekeeping", "schedule": JOBS_HOUSEKEEPING_SECONDS},
    "audit-purge": {"task": "audit.purge", "schedule": 24 * 3600},
}
# Notifications: site-default Apprise URLs, separated by spaces (an URL may hold commas), used by
# jobs without their own.
NOTIFY_URLS = env_secret("NOTIFY_URLS").split()
# /metrics: with a token, scrapers send "Authorization: Bearer <token>"; without, login is needed.
METRICS_TOKEN = env_secret("METRICS_TOKEN")

# Email (notifications and password resets).
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="backupweb@localhost")

# REST API (api/): personal access tokens only, JSON only, the same access rules as the pages.
API_REQUESTS_PER_MINUTE = env.int("API_REQUESTS_PER_MINUTE", default=120)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.TokenAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["api.auth.TokenThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "backupweb API",
    "DESCRIPTION": "Accounts, jobs, runs, the archive, users and the audit log. Send a personal "
    "access token (your profile's API tokens page) as `Authorization: Bearer TOKEN`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the drf-spectacular-sidecar package, served as static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Runs and folder runs both have a "state": name each set of choices.
    "ENUM_NAME_OVERRIDES": {
        "RunStateEnum": "jobs.models.JobRun.State",
        "FolderRunStateEnum": "jobs.models.FolderRun.State",
    },
}

# Security headers; Django's own CSP (SECURITY.md "Page security").
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# "same-origin", not "no-referrer": with no-referrer Chromium sends `Origin: null` on form posts,
# which Django's CSRF origin check rightly refuses. Other origins still get no referrer; the
# message viewer's own responses send no-referrer.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# DENY everywhere; the message body response sets SAMEORIGIN itself (archive/viewer.py), as the
# viewer frames its own body URL.
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: forms and htmx get the token from the page (base.html).
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container health check speaks plain HTTP
if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The preload directive only matters once the domain is submitted to the preload list
    # (which needs it on the registrable domain itself); set false to withhold consent.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "backupweb.logs.RedactSecrets"}},
    "formatters": {"line": {"()": "backupweb.logs.LineFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
