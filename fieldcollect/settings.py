"""Settings for the field-data backend, read from the environment.

Local use needs no configuration: every value has a safe default for a developer machine.
Production (``DJANGO_ENV=production``) refuses to start without ``DJANGO_SECRET_KEY``.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = os.environ.get("DJANGO_ENV", "local").lower() == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV=production.")
    SECRET_KEY = "local-development-only-not-secret"  # noqa: S105 - never used in production

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_guid",
    "fieldcollect",
    "habitats",
    "classification",
]

MIDDLEWARE = [
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    # A lost database connection (restart, fail-over) answers 503 + Retry-After, not 500.
    "fieldcollect.middleware.DatabaseUnavailableMiddleware",
    # Static files (admin, API docs) served by the app itself, so gunicorn alone is a complete server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fieldcollect.urls"
WSGI_APPLICATION = "fieldcollect.wsgi.application"

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
        },
    },
]

# Database: DATABASE_URL (postgis://user:password@host:port/name); the local default is the
# machine's PostgreSQL on 127.0.0.1:5432 with a database named fieldcollect.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/fieldcollect"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
if os.environ.get("DJANGO_TEST_DB_NAME"):
    # Lets several checkouts run their suites side by side on one PostgreSQL server.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DJANGO_TEST_DB_NAME"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "fieldcollect.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Generated SYNTHETIC landscapes (demo, tests, benchmarks): seeded, so regenerated rather than backed up.
LANDSCAPE_DIR = Path(os.environ.get("LANDSCAPE_DIR", BASE_DIR / "var" / "landscapes"))

# File storage goes through Django's storage API: the filesystem under MEDIA_ROOT by default; set
# STORAGE_BACKEND to a dotted backend path (e.g. storages.backends.s3.S3Storage) for object storage.
STORAGES = {
    "default": {"BACKEND": os.environ.get("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# Where the shared reference data lives (HABREF, EUNIS-ESy, flora, boundaries); importers also take
# explicit file paths, so a user's own files of the same formats work too.
SHARED_DATA_DIR = Path(os.environ.get("SHARED_DATA_DIR", BASE_DIR.parent / "shared" / "data"))

# Exports for modellers (classification.exports): what the Darwin Core Archive's eml.xml says of the data.
EXPORT_PUBLISHER = os.environ.get("EXPORT_PUBLISHER", "Regional habitat map")
EXPORT_LICENSE_NAME = os.environ.get("EXPORT_LICENSE_NAME", "Creative Commons Attribution (CC-BY) 4.0")
EXPORT_LICENSE_URL = os.environ.get("EXPORT_LICENSE_URL", "https://creativecommons.org/licenses/by/4.0/legalcode")
EXPORT_CONTACT_EMAIL = os.environ.get("EXPORT_CONTACT_EMAIL", "")

CACHES = {
    "default": {
        # Throttle counters and cached bundles only: without Redis, reads miss and writes are dropped.
        "BACKEND": "fieldcollect.cache.FailSoftRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "fieldcollect"),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# Celery: the broker and result backend are Redis; tasks acknowledge late so that a worker killed
# mid-task leaves its task to be redelivered (every task is idempotent).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queue names carry an optional prefix so that several deployments (or test runs) can share one Redis.
CELERY_QUEUE_PREFIX = os.environ.get("CELERY_QUEUE_PREFIX", "")
CELERY_QUEUES_USED = [f"{CELERY_QUEUE_PREFIX}{name}" for name in ("default", "training", "mapping")]
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUES_USED[0]
# Training on the `training` queue, map tiles and their mosaic on `mapping` (prefixed like the queues).
CELERY_TASK_ROUTES = {
    "classification.tasks.trained_model_fit_task": {"queue": CELERY_QUEUES_USED[1]},
    "classification.tasks.map_tile_predict_task": {"queue": CELERY_QUEUES_USED[2]},
    "classification.tasks.map_run_finish_task": {"queue": CELERY_QUEUES_USED[2]},
}
# Frugality: energy estimate = CPU-seconds × watts per busy core / 3.6e6 (kWh); threads per training fit.
ENERGY_WATTS_PER_CORE = float(os.environ.get("ENERGY_WATTS_PER_CORE", "10"))
TRAINING_N_JOBS = int(os.environ.get("TRAINING_N_JOBS", "1"))
# Live training pool (classification.services.pool): which legend and feature set it follows (empty: every
# active legend, the newest feature set), the mosaic rule's dominant share, the point buffer when a plot has
# no area, and whether validations schedule the pool update on commit.
TRAINING_POOL_LEGEND = os.environ.get("TRAINING_POOL_LEGEND", "")
TRAINING_POOL_FEATURE_SET = os.environ.get("TRAINING_POOL_FEATURE_SET", "")
TRAINING_POOL_MOSAIC_THRESHOLD = float(os.environ.get("TRAINING_POOL_MOSAIC_THRESHOLD", "0.75"))
TRAINING_POOL_BUFFER_M = float(os.environ.get("TRAINING_POOL_BUFFER_M", "5"))
TRAINING_POOL_LIVE = env_bool("TRAINING_POOL_LIVE", default=True)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message taken by a worker that vanished (SIGKILL, lost machine) is handed out again after the
# visibility timeout; it must exceed the longest task (a pool process that dies is redelivered at once).
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_BROKER_VISIBILITY_TIMEOUT", "3600"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Workers sweep for such messages every interval × throttle seconds: kombu's 100 s for long timeouts,
    # every second for short ones (the unacked set is per Redis database: one sweep is one small query).
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1 if CELERY_VISIBILITY_TIMEOUT < 1000 else 10,
    "socket_connect_timeout": 2,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "fieldcollect.api.authentication.DeviceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "fieldcollect.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("API_THROTTLE_RATE", "600/min")},
}

# Tablet sync (SYNC_PROTOCOL.md): push body limit, per-device-token rate, photo limits.
SYNC_PUSH_MAX_BYTES = int(os.environ.get("SYNC_PUSH_MAX_BYTES", str(8 * 1024 * 1024)))
SYNC_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "600/min")
# Pull: allowed difference (seconds) between the web servers' clocks and the database's (sample points).
SYNC_CLOCK_MARGIN_S = float(os.environ.get("SYNC_CLOCK_MARGIN_S", "2"))
PHOTO_MAX_BYTES = int(os.environ.get("PHOTO_MAX_BYTES", str(64 * 1024 * 1024)))
PHOTO_MAX_PIXELS = int(os.environ.get("PHOTO_MAX_PIXELS", str(120_000_000)))
# Where partial photo uploads are assembled (must be shared by all web processes of a deployment).
PHOTO_UPLOAD_DIR = Path(os.environ.get("PHOTO_UPLOAD_DIR", BASE_DIR / "var" / "uploads"))

SPECTACULAR_SETTINGS = {
    "TITLE": "Habitat field-data API",
    "DESCRIPTION": (
        "Offline sync for field tablets (relevés, photos, reference data), and read access for "
        "coordinators and modellers. Geometry in GeoJSON, EPSG:4326."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from the installed package: the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Logs: one JSON object per line in production (LOG_FORMAT=json), readable lines locally. Every line of
# a request carries its request id (X-Request-ID, generated when absent and returned to the client); a
# Celery task's lines carry the id of the request or task that queued it. Authorization headers and
# tokens are never logged.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
        "celery_tracing": {"()": "django_guid.integrations.celery.log_filters.CeleryTracing"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s "
            "%(celery_parent_id)s %(celery_current_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "correlation_id": "request_id"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "celery_tracing"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django_guid reports every generated id at INFO: noise, the id is on every line anyway.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django_guid": {"level": "WARNING"}},
}

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,  # a client-sent id that is not a UUID is replaced: no log injection
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Debian's GDAL 3.6 cannot block file/network access from malicious SRS strings (gis.W001). The API
# accepts only whitelisted EPSG codes and GeoJSON coordinates, never a free-form SRS definition.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Quality control: run the QC rules on relevés after each accepted push (Celery, on commit).
QC_RUN_ON_PUSH = env_bool("QC_RUN_ON_PUSH", default=True)
