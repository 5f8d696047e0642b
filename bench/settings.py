# ruff: noqa: F403, F405
"""Settings for the benchmarks: production-like (DEBUG off, persistent connections, Redis cache
and broker) against the benchmark database, never the demo or test databases."""

from dms.settings.base import *

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="bench-only-not-secret")
ALLOWED_HOSTS = ["*"]
BENCH_DATABASE_URL = env(
    "BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/dms_bench"
)
DATABASES = {"default": prepared_statements(env.db_url_config(BENCH_DATABASE_URL))}
# As in production (dms.settings.production): the web processes of the load test use psycopg's
# pool (DATABASE_POOL=true, set by bench/loadtest.py for gunicorn, as docker-compose.yml sets it
# on `web`); other processes keep one persistent connection, checked before a request's first
# query. That check is a round trip of its own: with it, the load test's web processes waited
# for it longer than for the status poll's one real query (py-spy --idle, 40 rooftops).
if env.bool("DATABASE_POOL", default=False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=4),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# a name for this process's database sessions, so a benchmark can find (and renice) them
if env("BENCH_DB_APPLICATION_NAME", default=""):
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = env(
        "BENCH_DB_APPLICATION_NAME"
    )
REDIS_URL = env("BENCH_REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# a queue of its own, so a developer's worker never picks up benchmark tasks
CELERY_TASK_DEFAULT_QUEUE = "dms-bench"
CELERY_TASK_ROUTES: dict = {}  # every task on that queue
DMS_CELERY_QUEUES = [CELERY_TASK_DEFAULT_QUEUE]
CACHES = {"default": {"BACKEND": "dms.cache.RedisCache", "LOCATION": REDIS_URL}}
# the bare endpoint for the throughput ratio lives next to the real URLs
ROOT_URLCONF = "bench.urls"
LOGGING["root"]["level"] = "WARNING"
LOGGING["loggers"]["django.request"] = {"level": "ERROR"}
# The sweeper benchmark measures the outreach engine: its messages go to the outbox recorder
# (followups.OutboundMessage, which it counts), not through the messaging layer's providers.
DMS_SMS_BACKEND = env("DMS_SMS_BACKEND", default="outreach.backends.RecordingBackend")
DMS_EMAIL_BACKEND = env("DMS_EMAIL_BACKEND", default="outreach.backends.RecordingBackend")
# The load test's simulated customers all poll from 127.0.0.1: the customer pages' limit per
# address (checked on every request as in production) must not turn their polls into 429s.
PORTAL_REQUESTS_PER_MINUTE = 1_000_000
