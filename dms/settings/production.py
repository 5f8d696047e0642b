"""Production: no defaults for secrets or service URLs; refuses to start without them.

Every optional part (connection pool, read replica, object storage for media, Prometheus metrics,
JSON logs, Sentry) is off unless its variable is set; docs/deployment.md lists them."""

from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from .base import *

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# --- database --------------------------------------------------------------------------------
DATABASES = {"default": env.db_url_config(env("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Production runs on PostgreSQL only: set DATABASE_URL=postgres://…")
prepared_statements(DATABASES["default"])  # dms.settings.base
# DATABASE_POOL=true (the web service): psycopg's connection pool, shared by the threads of one
# gunicorn process. Celery's prefork children keep one persistent connection each instead: a
# pool's threads do not survive a fork, and a child runs one task at a time.
if env.bool("DATABASE_POOL", default=False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=4),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# An optional streaming replica: the KPI dashboard, its drill-downs and exports read from it
# (dms.dbrouting); everything else, and every write, goes to the primary.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = prepared_statements(env.db_url_config(env("DATABASE_REPLICA_URL")))
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"].get("CONN_MAX_AGE", 0)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["dms.dbrouting.ReplicaRouter"]

# --- Redis: the broker on one database, the cache on another ---------------------------------
REDIS_URL = env("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}


def _next_redis_db(url: str) -> str:
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{db + 1}"))


# A cache clear (or eviction) must never drop queued work: by default the broker's database + 1.
CACHE_URL = env("CACHE_URL", default=_next_redis_db(REDIS_URL))
if CACHE_URL == REDIS_URL:
    raise ImproperlyConfigured("CACHE_URL must not be the broker's Redis database (REDIS_URL)")
CACHES = {"default": {"BACKEND": "dms.cache.RedisCache", "LOCATION": CACHE_URL}}

# --- static files ----------------------------------------------------------------------------
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False

# --- behind the TLS-terminating reverse proxy (deploy/Caddyfile) -----------------------------
# The proxy sets X-Forwarded-Proto: https itself (it never passes the client's on).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DMS_PUBLIC_BASE_URL = env("DMS_PUBLIC_BASE_URL")  # providers call back here; no default

# --- observability ---------------------------------------------------------------------------
# JSON log lines on stdout (one object per line, for the log collector); LOG_FORMAT=text for
# plain lines.
if env("LOG_FORMAT", default="json") == "json":
    LOGGING["formatters"] = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    }
    LOGGING["handlers"]["console"]["formatter"] = "json"

# Prometheus metrics at /metrics (requests by view, database, cache, and the outreach gauges).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
if METRICS_ENABLED:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_prometheus"]
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    for _db in DATABASES.values():
        _db["ENGINE"] = "django_prometheus.db.backends.postgresql"
    CACHES["default"]["BACKEND"] = "dms.metrics.MeasuredRedisCache"
    PROMETHEUS_EXPORT_MIGRATIONS = False

# Error reports to Sentry (or any Sentry-protocol service) when SENTRY_DSN is set.
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        release=env("SENTRY_RELEASE", default=None),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        send_default_pii=False,
    )
