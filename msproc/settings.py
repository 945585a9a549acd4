"""Django settings for msproc, read from the environment (see docs/configuration.md).

Defaults give the embedded default: SQLite under ``MSPROC_DATA_DIR`` and a
broker that needs no server. Production sets ``DATABASE_URL`` (PostgreSQL),
``CELERY_BROKER_URL`` (Redis or RabbitMQ), ``SECRET_KEY``, ``DEBUG=false``
and ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from msproc.env import (
    env_bool,
    env_broker_url,
    env_choice,
    env_database_url,
    env_float,
    env_int,
    env_list,
    env_path,
    env_path_value,
    env_secret_key,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("MSPROC_DATA_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
# With DEBUG on and no SECRET_KEY a development key is used; with DEBUG off a missing, public or weak key
# stops every process at start-up with a message naming SECRET_KEY (docs/security.md).
SECRET_KEY = env_secret_key("SECRET_KEY", debug=DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "core.admin_config.MsprocAdminConfig",  # django.contrib.admin, open to the roles (core/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # only so that accounts' migration can hash its old plain-text tokens
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc assets served from this package: no CDN
    "django_celery_beat",
    "core.apps.CoreConfig",
    "sites.apps.SitesConfig",
    "transfers.apps.TransfersConfig",
    "campaigns.apps.CampaignsConfig",
    "notifications.apps.NotificationsConfig",
    "accounts.apps.AccountsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from the web process (gunicorn), compressed
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# The model whose rows audit events belong to (core.models.Event.campaign), named here so core names no app.
MSPROC_EVENT_CAMPAIGN_MODEL = "campaigns.Campaign"

# Login throttling (django-axes): after MSPROC_LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# address, that pair is locked out for MSPROC_LOGIN_COOLOFF_MINUTES (HTTP 429). ``manage.py axes_reset`` unlocks.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("MSPROC_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("MSPROC_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "accounts.auth.login_username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

ROOT_URLCONF = "msproc.urls"
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
                "campaigns.liveness.liveness_banner",
            ],
        },
    },
]
WSGI_APPLICATION = "msproc.wsgi.application"
ASGI_APPLICATION = "msproc.asgi.application"

DATABASES = {"default": env_database_url("DATABASE_URL", f"sqlite:///{DATA_DIR / 'msproc.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker, beat) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env_path("MSPROC_STATIC_ROOT", DATA_DIR / "static")  # filled by ``manage.py collectstatic``
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (cached for ever by browsers) once collectstatic ran; plain finders while DEBUG.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Security: strict when DEBUG is off (``manage.py check --deploy`` is clean with production values).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.TokenAuthentication",  # "Authorization: Token <token>"; only SHA-512 digests are stored
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON nested too deeply is a 400, not a RecursionError (msproc/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "msproc.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
# API tokens (accounts/): hashed by django-rest-knox, shown once, revoked by their owner; 0 days: no expiry.
MSPROC_API_TOKEN_TTL_DAYS = env_int("MSPROC_API_TOKEN_TTL_DAYS", 0, minimum=0)
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token", "AUTO_REFRESH": False}

SPECTACULAR_SETTINGS = {
    "TITLE": "msproc API",
    "DESCRIPTION": "Multi-site processing campaigns for Rubin Observatory data releases.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: an embedded broker on SQLite by default (no server); Redis or RabbitMQ in production and tests.
CELERY_BROKER_URL = env_broker_url("CELERY_BROKER_URL", f"sqla+sqlite:///{DATA_DIR / 'broker.sqlite3'}")
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "msproc.beat:Scheduler"  # django-celery-beat's, writing beat's heartbeat
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
MSPROC_RECONCILE_SECONDS = env_float("MSPROC_RECONCILE_SECONDS", 5.0, minimum=0.5)
CELERY_BEAT_SCHEDULE = {
    # name: task, period (s); "expires" under the period so a backlog never piles up.
    "reconcile": {
        "task": "campaigns.tasks.reconcile",
        "schedule": MSPROC_RECONCILE_SECONDS,
        "options": {"expires": MSPROC_RECONCILE_SECONDS * 0.9},
    },
    "refresh-replicas": {
        "task": "transfers.tasks.refresh_replicas",
        "schedule": env_float("MSPROC_REPLICA_REFRESH_SECONDS", 120.0, minimum=10.0),
        "options": {"expires": 100.0},
    },
    "notify": {  # notifications (notifications/services.py): apart from the tick, so they never slow it
        "task": "notifications.tasks.dispatch",
        "schedule": env_float("MSPROC_NOTIFY_SECONDS", 30.0, minimum=1.0),
        "options": {"expires": 25.0},
    },
}

# Backends per site kind. "local" runs pipetask and Butler transfers on this machine.
# Unset: each site's own backend (admin). Set: every site uses it (e.g. "noop" for benchmarks).
MSPROC_EXECUTION_BACKEND = env_choice("MSPROC_EXECUTION_BACKEND", "", ("", "local", "noop", "panda")) or None
MSPROC_TRANSFER_BACKEND = env_choice("MSPROC_TRANSFER_BACKEND", "", ("", "local", "noop", "rucio")) or None
MSPROC_SITES_DIR = DATA_DIR / "sites"
# Where a ButlerRepo's root may point besides MSPROC_SITES_DIR (sites/butler_roots.py); msproc deletes only
# repositories it created under MSPROC_SITES_DIR (marker file, stack/paths.py).
MSPROC_BUTLER_ROOTS = [env_path_value("MSPROC_BUTLER_ROOTS", item) for item in env_list("MSPROC_BUTLER_ROOTS", [])]
MSPROC_BUTLER_URI_PREFIXES = env_list("MSPROC_BUTLER_URI_PREFIXES", [])
MSPROC_TAPE_DIR = env_path("MSPROC_TAPE_DIR", DATA_DIR / "tape")
MSPROC_PIPETASK_TIMEOUT = env_int("MSPROC_PIPETASK_TIMEOUT", 3600, minimum=1)
MSPROC_MAX_AUTO_RETRIES = env_int("MSPROC_MAX_AUTO_RETRIES", 2, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))},
}
MSPROC_REPO_NAME = env_str("MSPROC_REPO_NAME", "dp2")
MSPROC_INVENTORY_FILE = env_str("MSPROC_INVENTORY_FILE")
# Where a spec's pipeline may come from besides the shipped ones (mock:drp): file names in this directory,
# and URIs starting with one of these prefixes (docs/configuration.md). Nothing else is opened or fetched.
MSPROC_PIPELINES_DIR = env_str("MSPROC_PIPELINES_DIR")
MSPROC_PIPELINE_URI_PREFIXES = env_list("MSPROC_PIPELINE_URI_PREFIXES")
# Longest collection name the hub's Butler registry takes: daf_butler's schema says 64
# (lsst.daf.butler.column_spec.COLLECTION_NAME_MAX_LENGTH, enforced on PostgreSQL registries; the embedded SQLite
# repositories do not enforce it, msproc does). Campaigns whose collections would be longer are refused.
MSPROC_COLLECTION_MAX_LENGTH = env_int("MSPROC_COLLECTION_MAX_LENGTH", 64, minimum=32)
MSPROC_NOOP_FAIL = env_str("MSPROC_NOOP_FAIL")
# The no-op backends' submit and transfer start take this long (seconds): slow backends in fault tests.
MSPROC_NOOP_SUBMIT_SECONDS = env_float("MSPROC_NOOP_SUBMIT_SECONDS", 0.0, minimum=0.0)
MSPROC_NOOP_TRANSFER_SECONDS = env_float("MSPROC_NOOP_TRANSFER_SECONDS", 0.0, minimum=0.0)
MSPROC_LOCAL_MAX_RUNNING = env_int("MSPROC_LOCAL_MAX_RUNNING", 2, minimum=1)
# Work in flight (a movement registering or ingesting, a submission) is held under a lease renewed every
# MSPROC_HEARTBEAT_SECONDS; one not renewed for MSPROC_LEASE_SECONDS is taken over (core/leases.py).
MSPROC_HEARTBEAT_SECONDS = env_float("MSPROC_HEARTBEAT_SECONDS", 10.0, minimum=0.1)
MSPROC_LEASE_SECONDS = env_int("MSPROC_LEASE_SECONDS", env_int("MSPROC_MOVEMENT_LEASE_SECONDS", 45, minimum=1),
                               minimum=1)
MSPROC_MOVEMENT_LEASE_SECONDS = MSPROC_LEASE_SECONDS  # the former name
# Liveness (campaigns/liveness.py): a banner on every page and GET /api/v1/liveness/ when no reconcile tick ran
# for MSPROC_TICK_STALE_SECONDS, or no worker (or beat) reported for MSPROC_LIVENESS_SECONDS.
MSPROC_TICK_STALE_SECONDS = env_int("MSPROC_TICK_STALE_SECONDS", max(60, int(6 * MSPROC_RECONCILE_SECONDS)), minimum=1)
MSPROC_LIVENESS_SECONDS = env_int("MSPROC_LIVENESS_SECONDS", 60, minimum=1)
# A backend whose service failed this recently is shown as failing (sites.models.BackendHealth).
MSPROC_BACKEND_FAILING_SECONDS = env_int("MSPROC_BACKEND_FAILING_SECONDS", 600, minimum=1)
# Notifications (docs/notifications.md): links in messages start with this URL; a running campaign with no event
# for this long is reported as stalled (once per stall).
MSPROC_BASE_URL = env_str("MSPROC_BASE_URL", "http://127.0.0.1:8000")
MSPROC_NOTIFY_STALLED_SECONDS = env_int("MSPROC_NOTIFY_STALLED_SECONDS", 3600, minimum=60)
# E-mail notifications go through Django's mail: an SMTP server (EMAIL_HOST/EMAIL_PORT), or another backend.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "msproc@localhost")

# PanDA (docs/panda.md). Only the *path* of the token file; never the token.
MSPROC_PANDA_URL = env_str("MSPROC_PANDA_URL")
MSPROC_PANDA_URL_SSL = env_str("MSPROC_PANDA_URL_SSL")
MSPROC_PANDACACHE_URL = env_str("MSPROC_PANDACACHE_URL")
MSPROC_PANDA_MONITOR_URL = env_str("MSPROC_PANDA_MONITOR_URL")
MSPROC_PANDA_IDDS_SERVER = env_str("MSPROC_PANDA_IDDS_SERVER")
MSPROC_PANDA_AUTH = env_str("MSPROC_PANDA_AUTH", "oidc")
MSPROC_PANDA_AUTH_VO = env_str("MSPROC_PANDA_AUTH_VO", "Rubin")
MSPROC_PANDA_TOKEN_FILE = env_str("MSPROC_PANDA_TOKEN_FILE")
MSPROC_PANDA_VERIFY_HOST = env_bool("MSPROC_PANDA_VERIFY_HOST", True)
MSPROC_PANDA_CONFIG_ROOT = env_str("MSPROC_PANDA_CONFIG_ROOT")
MSPROC_PANDA_BPS_CONFIG = env_str("MSPROC_PANDA_BPS_CONFIG")
# Polling: a request is asked about in full at least this often even when PanDA's change feed shows nothing
# (0: always, i.e. no change feed); the feed asks for at most this many tasks, and polls all in full if it gets them.
MSPROC_PANDA_FULL_POLL_SECONDS = env_int("MSPROC_PANDA_FULL_POLL_SECONDS", 900, minimum=0)
MSPROC_PANDA_FEED_LIMIT = env_int("MSPROC_PANDA_FEED_LIMIT", 500, minimum=1)

# Rucio (transfers/backends/rucio/; docs/rucio.md). Secrets: a file or an env var name, never a value here.
MSPROC_RUCIO_HOST = env_str("MSPROC_RUCIO_HOST")
MSPROC_RUCIO_AUTH_HOST = env_str("MSPROC_RUCIO_AUTH_HOST")
MSPROC_RUCIO_ACCOUNT = env_str("MSPROC_RUCIO_ACCOUNT", "root")
MSPROC_RUCIO_AUTH_TYPE = env_choice("MSPROC_RUCIO_AUTH_TYPE", "userpass", ("userpass", "x509", "x509_proxy"))
MSPROC_RUCIO_USERNAME = env_str("MSPROC_RUCIO_USERNAME")
MSPROC_RUCIO_PASSWORD_FILE = env_str("MSPROC_RUCIO_PASSWORD_FILE")
MSPROC_RUCIO_PASSWORD_ENV = env_str("MSPROC_RUCIO_PASSWORD_ENV", "MSPROC_RUCIO_PASSWORD")
MSPROC_RUCIO_SCOPE = env_str("MSPROC_RUCIO_SCOPE")  # default: MSPROC_REPO_NAME
MSPROC_RUCIO_RSE = env_str("MSPROC_RUCIO_RSE", "{site}_BUTLER_DISK")
MSPROC_RUCIO_TAPE_RSE = env_str("MSPROC_RUCIO_TAPE_RSE", "{site}_TAPE")  # archive rules go to the hub's tape RSE
MSPROC_RUCIO_ACTIVITY = env_str("MSPROC_RUCIO_ACTIVITY")
MSPROC_RUCIO_INGEST_TRANSFER = env_str("MSPROC_RUCIO_INGEST_TRANSFER", "direct")
