"""Settings shared by every environment. One `env` reads the process environment."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "dms.apps.DmsAdminConfig",  # the Django admin, scoped by site (dms.adminsite)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "dms",
    "customers",
    "messaging",
    "outreach",
    "appointments",
    "workorders",
    "workshop",
    "followups",
    "care",
    "kpis",
    "portal",
    "demo",  # the demo dealership (manage.py load_demo), above every app
]

MIDDLEWARE = [
    # /health/ and /health/web/ (dms.health): before the host check and the https redirect
    "dms.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer (django-csp; the policy is below)
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "dms.inputs.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dms.api.idempotency.IdempotencyMiddleware",
    "dms.middleware.SiteMiddleware",
    # sign-in lockout (django-axes): turns a locked-out attempt into the lockout answer
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dms.urls"
WSGI_APPLICATION = "dms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dms.context_processors.navigation",
            ],
        },
    }
]

# --- database ------------------------------------------------------------------------------
# Embedded default: SQLite in var/, IMMEDIATE transactions so writers queue instead of failing.
DATABASE_URL = env("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dms.sqlite3'}")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}


def prepared_statements(database: dict) -> dict:
    """On PostgreSQL, bind a query's parameters on the server and let psycopg prepare a
    statement after its fifth run on a connection (`prepare_threshold`), so Postgres stops
    parsing and planning the same statements on every request. Planning was a large part of
    what the pages cost the database: the repair order's read with its six joined rows plans in
    1.4-1.7 ms and runs in 0.26 once prepared; in-process the RO page went 35.9 / 35.7 -> 31.3 /
    29.4 ms, a lookup 9.2 / 8.8 -> 7.4 / 7.1, availability 10.3 / 10.3 -> 9.0 / 8.5
    (docs/benchmarks.md, 2026-12-07 16:20). DATABASE_PREPARED=false binds on the client as
    Django does by default."""
    if database.get("ENGINE") == "django.db.backends.postgresql" and env.bool(
        "DATABASE_PREPARED", default=True
    ):
        options = database.setdefault("OPTIONS", {})
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", 5)
    return database


prepared_statements(DATABASES["default"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
# sessions read from the cache, written through to the database: a polled board's 304 (dms.live)
# reads the session without a query
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 3600)

# --- Content-Security-Policy ---------------------------------------------------------------
# Scripts only from our own static files (or with the request's nonce): no inline scripts or
# handlers, no eval (htmx runs with allowEval=false). Styles likewise: style sheets from our
# static files, a page's own <style> block with the nonce, no style attributes (pages use
# classes; a bar's length is an SVG rect's width). Violations are logged (csp_report).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": "/csp-report/",
    },
}

# --- sign-in protection ----------------------------------------------------------------------
# django-axes counts failed sign-ins (login page, admin, API token exchange) per account and
# per client address; either reaching the limit locks it out for the cool-off time.
AUTHENTICATION_BACKENDS = [
    "dms.signin.LockoutBackend",
    # the password backend; the user's roles and sites read with the user (dms.signin)
    "dms.signin.StaffBackend",
    # for sessions signed in before StaffBackend (their backend's path is in the session)
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dms.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "dms.signin.client_ip"
# how many reverse proxies in front of the app append to X-Forwarded-For (0: use REMOTE_ADDR)
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_VERBOSE = False
# API tokens expire this many days after they were issued (a new sign-in issues a new one)
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=30)

# --- i18n ----------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- static and media ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic target; production sets it, development serves from the finders
STATIC_ROOT = env("STATIC_ROOT", default=None)
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Outside production whitenoise serves straight from the finders (no collectstatic needed).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = env.bool("DJANGO_DEBUG", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Media (photos, signatures) on S3-compatible object storage when MEDIA_S3_BUCKET is set, so
# every web replica sees what another one saved; credentials from AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY. Staff still get files through dms.media (login required).
MEDIA_S3_BUCKET = env("MEDIA_S3_BUCKET", default="")
if MEDIA_S3_BUCKET:
    _endpoint = env("MEDIA_S3_ENDPOINT_URL", default="") or None
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": _endpoint,
            "region_name": env("MEDIA_S3_REGION", default="") or None,
            "location": env("MEDIA_S3_PREFIX", default=""),
            "addressing_style": env(
                "MEDIA_S3_ADDRESSING_STYLE", default="path" if _endpoint else "auto"
            ),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }

# --- metrics ------------------------------------------------------------------------------------
# Gauges read at scrape time (dms.metrics; served only with METRICS_ENABLED in production).
DMS_METRICS_COLLECTORS = ["dms.metrics.celery_queue_lengths", "followups.metrics.collect"]

# --- celery ----------------------------------------------------------------------------------
# Embedded default: a file-system broker under var/; REDIS_URL switches to Redis.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "broker"
    # kombu's file-system transport needs its folders to exist
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# Outbound requests (webhooks) go to public internet addresses over https only (dms.outbound).
# OUTBOUND_CA_FILE: a CA bundle to trust instead of the system's (None = the system's).
# OUTBOUND_ALLOWED_NETWORKS / OUTBOUND_ALLOW_HTTP exist for tests against local servers only.
OUTBOUND_CA_FILE = env("DMS_OUTBOUND_CA_FILE", default=None)
OUTBOUND_ALLOWED_NETWORKS: list[str] = []
OUTBOUND_ALLOW_HTTP = False

CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}  # each domain app adds its periodic tasks in dms/celery.py

# Queues, routed by task name (names stay stable when a task's code moves): the minute-critical
# outreach work and the wall screens' renders never wait behind a nightly rollup. docker-compose.yml runs a worker per queue;
# `make run` runs one worker on all of them.
DMS_CELERY_QUEUES = ["outreach", "webhooks", "live", "reporting", "celery"]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "followups.tasks.deliver_webhook": {"queue": "webhooks"},
    # the wall screens' renders after a change: seconds matter, never behind a rollup
    "workshop.tasks.render_board": {"queue": "live"},
    "outreach.tasks.deliver_webhook": {"queue": "webhooks"},
    "followups.tasks.*": {"queue": "outreach"},
    "outreach.tasks.*": {"queue": "outreach"},
    "messaging.tasks.*": {"queue": "outreach"},
    "dms.tasks.refresh_kpi_rollups": {"queue": "reporting"},
    "kpis.tasks.*": {"queue": "reporting"},
    "customers.tasks.recompute_segments": {"queue": "reporting"},
    "customers.tasks.refresh_service_due": {"queue": "reporting"},
    "care.tasks.*": {"queue": "reporting"},
}
# Time limits on every task: soft raises SoftTimeLimitExceeded inside the task (tasks are
# idempotent: the next run redoes the work), hard kills the child process. Reporting tasks get
# longer ones, still under the broker's visibility timeout (3600 s), so a long task is never
# handed to a second worker while the first one still runs it.
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
DMS_REPORTING_TIME_LIMITS = {"soft_time_limit": 2700, "time_limit": 3000}
CELERY_TASK_ANNOTATIONS = dict.fromkeys(
    (
        "dms.tasks.refresh_kpi_rollups",
        "customers.tasks.recompute_segments",
        "customers.tasks.refresh_service_due",
        "care.tasks.run_reminder_rules",
        "care.tasks.run_reminder_rules_for_site",
    ),
    DMS_REPORTING_TIME_LIMITS,
)

# --- REST API ------------------------------------------------------------------------------
# Idempotency-Key answers are kept this long (purged hourly); a first request that has not
# answered after the lease (its process died) may be taken over by a retry.
DMS_IDEMPOTENCY_HOURS = 24
DMS_IDEMPOTENCY_LEASE_SECONDS = 120
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dms.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # request bodies are JSON (nesting limited); an upload declares MultiPartParser on its view
    "DEFAULT_PARSER_CLASSES": ["dms.api.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PAGINATION_CLASS": "dms.api.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["dms.api.filters.FilterBackend"],
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "dms.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "dms.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DMS-lite API",
    "DESCRIPTION": "Service operations of a car dealership: appointments, repair orders, "
    "workshop, follow-up calls, complaints and KPIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dms.api.schema.add_links",
    ],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # one name per choice set that several apps use under the same field name
    "ENUM_NAME_OVERRIDES": {
        "ContactChannelEnum": "customers.models.Channel",
        "BookingChannelEnum": "appointments.models.Appointment.BookingChannel",
        "ApprovalChannelEnum": "workorders.models.ApprovalChannel",
        "ComplaintChannelEnum": "followups.models.ComplaintChannel",
        "AppointmentStatusEnum": "appointments.models.AppointmentStatus",
        "RepairOrderStatusEnum": "workorders.models.ROStatus",
        "TaskStatusEnum": "outreach.models.TaskStatus",
        "ComplaintStatusEnum": "followups.models.ComplaintStatus",
        "DeliveryStatusEnum": "outreach.models.DeliveryStatus",
        "ImportStatusEnum": "customers.models.ImportBatch.Status",
        "TaskKindEnum": "outreach.models.TaskKind",
        "ReminderRuleKindEnum": "care.models.RuleKind",
        "CustomerKindEnum": "customers.models.Customer.Kind",
        "ApprovalKindEnum": "workorders.models.Approval.Kind",
        "ComplaintDecisionEnum": "followups.models.ComplaintDecision",
        "LineDecisionEnum": "workorders.models.ApprovalLine.Decision",
        "CallOutcomeEnum": "outreach.models.CallOutcome",
        "RecordedCallOutcomeEnum": "outreach.models.RECORDED_OUTCOMES",
        "ComplaintCauseEnum": "followups.models.ComplaintCause",
        "LineApprovalEnum": "workorders.models.JobLine.Approval",
        "RoleEnum": "dms.models.Role",
        "RepairOrderActionEnum": "workorders.apis.RO_ACTIONS",
        "BoardColumnEnum": "workshop.apis.BOARD_COLUMN_KEYS",
        "KpiTrendUnitEnum": "kpis.apis.TREND_UNITS",
    },
}

# --- outreach --------------------------------------------------------------------------------
# Channel backends for messages; the defaults record what would be sent.
# How call tasks' messages leave: through the messaging layer (the site's providers).
DMS_SMS_BACKEND = env("DMS_SMS_BACKEND", default="outreach.backends.MessagingBackend")
DMS_EMAIL_BACKEND = env("DMS_EMAIL_BACKEND", default="outreach.backends.MessagingBackend")
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="service@dms-lite.invalid")
# Messages to customers (docs/messaging.md). Provider accounts with their credentials, by the
# name a site's channel refers to, e.g.
# {"aliyun-main": {"access_key_id": "…", "access_key_secret": "…", "callback_token": "…"}}
DMS_MESSAGING_ACCOUNTS = env.json("DMS_MESSAGING_ACCOUNTS", default={})
# What a site with no channel configured sends through.
DMS_MESSAGING_DEFAULT_PROVIDERS = {"sms": "recording", "email": "smtp"}
# The public address providers call back (status receipts, replies); Twilio signs this URL.
DMS_PUBLIC_BASE_URL = env("DMS_PUBLIC_BASE_URL", default="http://localhost:8000")
DMS_MESSAGING_MAIL_DOMAIN = env("DMS_MESSAGING_MAIL_DOMAIN", default="dms-lite.invalid")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
