"""
Settings for forecastsite, every value read from the environment.

With nothing set, the site runs on one machine with nothing but Python:
SQLite, a local-memory cache and Celery tasks executed in-process. Setting
DATABASE_URL, REDIS_URL and CELERY_BROKER_URL moves it to PostgreSQL, Redis
and Celery workers. `.env.example` lists every variable.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"


def env_str(name, default=""):
    """A string variable; `NAME_FILE` points at a file holding the value (secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    if value == "":
        # An empty value means "use the default", never "no limit".
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_float(name, default):
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name, default=()):
    value = os.environ.get(name, "")
    if not value.strip():
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


# ENVIRONMENT=production turns the development defaults off and refuses to
# start with DEBUG on or with the development secret key.
ENVIRONMENT = os.environ.get("ENVIRONMENT", "development").strip().lower()
if ENVIRONMENT not in ("development", "production"):
    raise ImproperlyConfigured(f"ENVIRONMENT must be development or production, not {ENVIRONMENT!r}")
IS_PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DEBUG", not IS_PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
if IS_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production (ENVIRONMENT=production).")
if IS_PRODUCTION and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: the development key is refused in production.")
if IS_PRODUCTION and (len(SECRET_KEY.strip()) < 50 or len(set(SECRET_KEY)) < 5):
    # The rule of Django's deploy check, enforced: an empty, blank or short key
    # makes sessions and password-reset links guessable.
    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 characters, not blank, with at least 5 different ones, in production."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "questions",
    "forecasts",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL byte in the URL is a 400 before any query can turn it into a 500.
    "forecastsite.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Anonymous readers' cached pages, served before sessions and CSRF (forecasts.cache).
    "forecasts.cache.PageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "forecastsite.urls"
WSGI_APPLICATION = "forecastsite.wsgi.application"

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
                "forecasts.context_processors.panel_mode",
            ],
        },
    }
]

# SQLite by default so a fresh clone runs with nothing installed; production
# and CI set DATABASE_URL to PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the in-process scheduler writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "forecastsite"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Cached pages must be invalidated by whichever process writes a round. The
# local-memory cache is per process (bin/run's schedule runs in another one),
# so without a shared cache nothing is cached for more than the request.
CACHE_SECONDS = env_int("CACHE_SECONDS", 300 if REDIS_URL else 0)
# Anonymous readers' pages (forecasts.cache); 0 turns the page cache off.
PAGE_CACHE_SECONDS = env_int("PAGE_CACHE_SECONDS", CACHE_SECONDS)
# Seconds each process reuses the cache generations it read, so a cached page
# costs no Redis round trip; another process's write shows within that time.
# Off in development and tests, where a write must show on the next request.
PAGE_CACHE_VERSION_SECONDS = env_float("PAGE_CACHE_VERSION_SECONDS", 1.0 if IS_PRODUCTION else 0.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security headers. The policy allows no inline script: every script is a
# static file, and data reaches charts through json_script or JSON views.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"httpx2": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}

# --- Celery -----------------------------------------------------------------
# No broker configured: tasks run in-process (the embedded default). REDIS_URL
# alone is enough to make Redis the broker; CELERY_BROKER_URL set but empty
# keeps tasks in-process even with a Redis cache.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL).strip()
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# Late acknowledgement: a worker killed mid-round leaves the message on the
# broker, and the round's claim (forecasts.services) makes the redelivery safe.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "forecastsite")
CELERY_BEAT_SCHEDULE = {
    # Finds the open questions whose cadence slot has no round yet and fans
    # out one task per question; safe to run from two schedulers at once.
    "every-10-minutes-dispatch-due-rounds": {
        "task": "forecasts.tasks.dispatch_due_rounds",
        # FORECAST_DISPATCH_SECONDS replaces the crontab with a plain interval (tests).
        "schedule": env_float("FORECAST_DISPATCH_SECONDS", 0) or crontab(minute="*/10"),
        "kwargs": {"limit": 500},
    },
}

# --- The forecasting pipeline ----------------------------------------------
# Per-call timeout when a panel model leaves its own empty (seconds).
FORECAST_DEFAULT_TIMEOUT = env_float("FORECAST_DEFAULT_TIMEOUT", 60.0)
# Retries for transient provider errors (timeouts, 429, 5xx), with
# exponential backoff and jitter. This is the only retry layer: the openai
# client itself is built with max_retries=0.
FORECAST_MAX_RETRIES = env_int("FORECAST_MAX_RETRIES", 3)
FORECAST_BACKOFF_BASE = env_float("FORECAST_BACKOFF_BASE", 2.0)
FORECAST_BACKOFF_MAX = env_float("FORECAST_BACKOFF_MAX", 60.0)
# A round stops waiting for stragglers after this long and records them as
# timeouts; it must stay below the Celery soft time limit.
FORECAST_ROUND_DEADLINE = env_float("FORECAST_ROUND_DEADLINE", 240.0)
# A round claimed by a worker that died is taken over after this long.
FORECAST_CLAIM_LEASE = env_int("FORECAST_CLAIM_LEASE", 420)
# Questions whose rounds run concurrently inside one in-process dispatch.
FORECAST_LOCAL_CONCURRENCY = env_int("FORECAST_LOCAL_CONCURRENCY", 8)
# Set by bin/run when no provider is configured and the panel is answered by
# the local replay server: pages then say so plainly.
FORECAST_REPLAY = env_bool("FORECAST_REPLAY", False)
