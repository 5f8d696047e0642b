"""Test run settings.

Postgres and Redis on 127.0.0.1 are used when they answer: every run gets its own database
(created and dropped by pytest-django) and its own Celery queue, so parallel runs never meet.
With CI=true they are required; otherwise the suite falls back to SQLite and the tests that need
the real services are skipped with a printed reason (see conftest.py).
"""

import os
import socket
import uuid

from .base import *


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


RUN_ID = os.environ.setdefault("DMS_TEST_RUN_ID", uuid.uuid4().hex[:8])
PG_HOST = env("DMS_TEST_PG_HOST", default="127.0.0.1")
PG_PORT = env.int("DMS_TEST_PG_PORT", default=5432)
REDIS_HOST = env("DMS_TEST_REDIS_HOST", default="127.0.0.1")
REDIS_PORT = env.int("DMS_TEST_REDIS_PORT", default=6379)

HAVE_POSTGRES = _reachable(PG_HOST, PG_PORT)
HAVE_REDIS = _reachable(REDIS_HOST, REDIS_PORT)

if HAVE_POSTGRES:
    DATABASES = {
        "default": env.db_url_config(
            env(
                "DMS_TEST_DATABASE_URL",
                default=f"postgres://postgres@{PG_HOST}:{PG_PORT}/dms_{RUN_ID}",
            )
        )
    }
    DATABASES["default"]["TEST"] = {"NAME": f"test_dms_{RUN_ID}"}
    prepared_statements(DATABASES["default"])  # as in production (dms.settings.base)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / f"test-{RUN_ID}.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            "TEST": {"NAME": str(VAR_DIR / f"test-{RUN_ID}.sqlite3")},
        }
    }

if HAVE_REDIS:
    REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    REDIS_URL = ""
    CELERY_BROKER_URL = "memory://"
# Each run has its own queue on the shared Redis, and every task goes to it (no routing to the
# production queue names, which other runs share).
CELERY_TASK_DEFAULT_QUEUE = f"dms-test-{RUN_ID}"
CELERY_TASK_ROUTES: dict = {}
DMS_CELERY_QUEUES = [CELERY_TASK_DEFAULT_QUEUE]

# The cache is each process's own (Django's local memory). A test that shares cache entries
# with a worker process it starts (the board rendered by a worker, dms.live) switches both to
# Redis under this run's prefix; the worker is told so by DMS_TEST_CACHE=redis.
if HAVE_REDIS and env("DMS_TEST_CACHE", default="") == "redis":
    CACHES = {
        "default": {
            "BACKEND": "dms.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("DMS_TEST_CACHE_PREFIX", default=f"dms-test-{RUN_ID}"),
        }
    }
# Polls render the live fragments themselves (dms.live) unless a test starts a worker for them.
DMS_LIVE_RENDER_IN_WORKER = False

DEBUG = False
SECRET_KEY = "test-only-not-secret"
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = str(VAR_DIR / "test-media")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The outreach tests count the outbox rows; the messaging tests switch to MessagingBackend.
DMS_SMS_BACKEND = "outreach.backends.RecordingBackend"
DMS_EMAIL_BACKEND = "outreach.backends.RecordingBackend"
LOGGING["root"]["level"] = "WARNING"
LANGUAGE_CODE = "en"

# Outbound requests are refused to local addresses here too; a test that needs a delivery to a
# local TLS listener allows 127.0.0.1 itself (and passes these to a worker process it starts).
OUTBOUND_ALLOWED_NETWORKS = env.list("DMS_TEST_OUTBOUND_ALLOWED_NETWORKS", default=[])
OUTBOUND_CA_FILE = env("DMS_TEST_OUTBOUND_CA_FILE", default=None)
# The sign-in lockout is off in tests (many tests sign in wrongly on purpose from one address);
# the lockout tests (dms/tests/test_signin.py) switch it on.
AXES_ENABLED = False
