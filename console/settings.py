"""Settings for the incident console, read from the environment.

With no environment at all the console runs on the embedded defaults: SQLite under var/,
Kombu's filesystem broker under var/ and a file cache under var/cache/ shared by every
process. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis. Malformed values stop
start-up (see console/env.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from console.env import (
    env_bool,
    env_int,
    env_list,
    env_origins,
    env_str,
    env_timezone,
    env_url,
    parse_database_url,
    sqlite_database,
    validate_redis_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CONSOLE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-for-a-laptop-run-never-for-production-use"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS")
TIME_ZONE = env_timezone("TIME_ZONE", "UTC")
USE_TZ = True
USE_I18N = False
LANGUAGE_CODE = "en-gb"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    # django-ninja: the REST API; listed so its docs page uses the bundled Swagger UI.
    "ninja",
    "console",
    "incidents",
    "runbooks",
    "probes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    "console.middleware.ConsoleNotFoundMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
ASGI_APPLICATION = "console.asgi.application"

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
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": parse_database_url(DATABASE_URL, BASE_DIR)}
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 60, minimum=0)
else:
    DATABASES = {"default": sqlite_database(VAR_DIR / "console.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: broker and cache ------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    validate_redis_url(REDIS_URL)
    CACHES = {
        "default": {
            # Tolerates Redis being down: the console diagnoses outages of the Redis it uses.
            "BACKEND": "console.cache.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "console"),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Timers (acknowledgement targets, escalation steps) are ETA tasks held unacked by
        # a worker; a visibility timeout shorter than the longest timer redelivers them.
        "visibility_timeout": int(timedelta(days=2).total_seconds()),
    }
else:
    # Shared by every process of `make run` (gunicorn workers, worker, beat): a per-process
    # cache kept the status page stale in the workers that missed a version bump.
    CACHES = {
        "default": {
            "BACKEND": "console.filecache.SharedFileCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    }
    BROKER_DIR = VAR_DIR / "broker"
    # The filesystem transport needs its folders before the first publish or poll.
    (BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
    # Kombu's filesystem transport with atomic publish and claim (console/broker.py, its
    # scheme registered by console/celery.py): the stock `filesystem://` lets a worker read a
    # message file before it is written, and die on it.
    CELERY_BROKER_URL = "consolefs://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Broadcasts (worker pings, remote control); the default is a folder in the CWD.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-ack-targets": {
        "task": "incidents.tasks.sweep_ack_targets",
        "schedule": 30.0,
    },
    "dispatch-probes": {
        "task": "probes.tasks.dispatch",
        "schedule": 5.0,
        # A tick that waited longer than its period is stale: the next one claims the same.
        "options": {"expires": 5.0},
    },
    "prune-probe-results": {
        "task": "probes.tasks.prune_results",
        "schedule": 3600.0,
    },
    # Stakeholder updates past their cadence: one reminder each (incidents.statuspage).
    "remind-overdue-updates": {
        "task": "incidents.statuspage.tasks.remind_overdue",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    # Escalation levels whose timer was lost: one query for every ladder with a level due.
    "sweep-escalations": {
        "task": "incidents.escalation.tasks.sweep_escalations",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    # Review exports whose worker died (no progress for 5 minutes): re-queued, once each.
    "sweep-stalled-exports": {
        "task": "incidents.reviews.tasks.sweep_stalled_exports",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Outgoing event webhooks whose kick or retry was lost (incidents.webhooks).
    "sweep-webhooks": {
        "task": "incidents.webhooks.tasks.sweep_webhooks",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    # Webhook deliveries a kick missed (stored just after a drain ended, or broker hiccups).
    "sweep-inbound": {
        "task": "incidents.tasks.process_pending",
        "schedule": 10.0,
        "kwargs": {"older_than_seconds": 2},
        "options": {"expires": 10.0},
    },
    # Used one-time form tokens (console/formtoken.py) older than a resend could be.
    "prune-form-tokens": {
        "task": "console.tasks.prune_form_tokens",
        "schedule": 6 * 3600.0,
    },
}

# Auth -------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "incidents:list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
SESSION_COOKIE_AGE = int(timedelta(days=14).total_seconds())

# Uploads ----------------------------------------------------------------------------------
# The only files anyone uploads are runbooks, at most 1 MiB (runbooks/importer.py MAX_BYTES);
# the upload view stops reading a file past that (runbooks.views.RunbookSizeLimit). One that
# size stays in memory; anything larger would be spooled to a temporary file, never kept.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024 + 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 10
# Non-file request bodies: Django's default (2.5 MB). Alert intake reads JSON bodies whole,
# and a big Alertmanager group can be large.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Email ------------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive; set only one")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "incidents@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)

# Security ---------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The load balancer health check speaks plain HTTP to the container.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# htmx is served from our own origin and configured through a <meta> tag, so the policy
# needs no 'unsafe-inline' and no 'unsafe-eval'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# Console behaviour ------------------------------------------------------------------------
TIMELINE_PAGE_SIZE = env_int("TIMELINE_PAGE_SIZE", 100, minimum=10)
PROBE_RESULT_RETENTION_DAYS = env_int("PROBE_RESULT_RETENTION_DAYS", 30, minimum=1)
# One HTTP batch per worker process: each runs its probes concurrently on one AsyncClient.
PROBE_HTTP_BATCHES = env_int("PROBE_HTTP_BATCHES", 2, minimum=1)
# The public status page (/status/, /status.json): its name and its id in status.json.
STATUS_PAGE_NAME = env_str("STATUS_PAGE_NAME", "Service status")
STATUS_PAGE_ID = env_str("STATUS_PAGE_ID", "console")
INCIDENT_LIST_PAGE_SIZE = env_int("INCIDENT_LIST_PAGE_SIZE", 50, minimum=10)
# The worker's and beat's own heartbeats (console.heartbeats); 0 turns them off.
CONSOLE_HEARTBEAT_SECONDS = env_int("CONSOLE_HEARTBEAT_SECONDS", 10, minimum=0)

# Escalation ---------------------------------------------------------------------------------
# Links in pages point here. Empty Slack/webhook settings turn that channel off: its
# deliveries are recorded as skipped, with the reason.
# Links in pages and notifications. Unset, it follows the port `make run` serves on ($PORT).
CONSOLE_BASE_URL = (
    env_url("CONSOLE_BASE_URL") or f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1)}"
)
SLACK_WEBHOOK_URL = env_url("SLACK_WEBHOOK_URL")
ESCALATION_WEBHOOK_URL = env_url("ESCALATION_WEBHOOK_URL")
ESCALATION_WEBHOOK_SECRET = env_str("ESCALATION_WEBHOOK_SECRET")
ESCALATION_DELIVERY_ATTEMPTS = env_int("ESCALATION_DELIVERY_ATTEMPTS", 4, minimum=1)
ESCALATION_RETRY_BACKOFF_SECONDS = env_int("ESCALATION_RETRY_BACKOFF_SECONDS", 10, minimum=0)
ESCALATION_HTTP_TIMEOUT = env_int("ESCALATION_HTTP_TIMEOUT", 10, minimum=1)

# Paging (issue 15): SMS and voice over Twilio's REST protocol, ntfy push, Slack buttons.
# TWILIO_API_BASE may point at another provider speaking the same protocol (or a stand-in).
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")
TWILIO_API_BASE = env_url("TWILIO_API_BASE") or "https://api.twilio.com"
if TWILIO_FROM_NUMBER and not re.fullmatch(r"\+[1-9]\d{6,14}", TWILIO_FROM_NUMBER):
    raise ImproperlyConfigured("TWILIO_FROM_NUMBER must be an E.164 number such as +14155550100")
NTFY_BASE_URL = env_url("NTFY_BASE_URL")
NTFY_TOKEN = env_str("NTFY_TOKEN")
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET")
SLACK_BOT_TOKEN = env_str("SLACK_BOT_TOKEN")
SLACK_API_BASE = env_url("SLACK_API_BASE") or "https://slack.com/api"
# How long a signed callback link (voice TwiML, ntfy's Acknowledge action) stays valid.
PAGING_LINK_MAX_AGE = env_int("PAGING_LINK_MAX_AGE", 24 * 3600, minimum=60)
# REST API (/api/v1/) ------------------------------------------------------------------------
# Requests a minute per token; past it the answer is 429 with Retry-After.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
# Outgoing event webhooks: tries per delivery, the first retry's delay (doubling), timeout.
WEBHOOK_DELIVERY_ATTEMPTS = env_int("WEBHOOK_DELIVERY_ATTEMPTS", 6, minimum=1)
WEBHOOK_RETRY_BACKOFF_SECONDS = env_int("WEBHOOK_RETRY_BACKOFF_SECONDS", 30, minimum=0)
WEBHOOK_HTTP_TIMEOUT = env_int("WEBHOOK_HTTP_TIMEOUT", 10, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One INFO line per request would drown a worker's log under 1,000 HTTP probes.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
