"""The processes of the production stack as the smoke test starts them natively, one per
docker-compose.yml service. tests/production/test_compose.py checks docker-compose.yml against
this table: same services, same commands, same environment names.

A command is written as in the compose file; `native()` turns it into what runs here: the
image's programs from this checkout's virtualenv, and the few container paths that are files of
the test's own temporary folder (LOCAL_PATHS)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# service → (command, environment names it sets beyond the shared application environment)
APP_SERVICES = {
    "migrate": (["python", "manage.py", "migrate", "--noinput"], set()),
    "web": (
        ["gunicorn", "--config", "deploy/gunicorn.conf.py", "dms.wsgi:application"],
        {
            "DATABASE_POOL",
            "TRUSTED_PROXY_COUNT",
            "WEB_WORKERS",
            "WEB_THREADS",
            "PROMETHEUS_MULTIPROC_DIR",
        },
    ),
    "worker-outreach": (
        ["celery", "-A", "dms", "worker", "-Q", "outreach", "-n", "outreach@%h",
         "--concurrency", "4", "--max-memory-per-child", "200000", "-l", "INFO"],
        {"CELERY_NODE"},
    ),
    "worker-webhooks": (
        ["celery", "-A", "dms", "worker", "-Q", "webhooks", "-n", "webhooks@%h",
         "--concurrency", "2", "--max-memory-per-child", "200000", "-l", "INFO"],
        {"CELERY_NODE"},
    ),
    "worker-live": (
        ["celery", "-A", "dms", "worker", "-Q", "live", "-n", "live@%h",
         "--concurrency", "2", "--max-memory-per-child", "300000", "-l", "INFO"],
        {"CELERY_NODE"},
    ),
    "worker-reporting": (
        ["celery", "-A", "dms", "worker", "-Q", "reporting,celery", "-n", "reporting@%h",
         "--concurrency", "1", "--max-memory-per-child", "400000", "-l", "INFO"],
        {"CELERY_NODE"},
    ),
    "beat": (
        ["celery", "-A", "dms", "beat", "-l", "INFO", "--schedule", "/tmp/celerybeat-schedule"],
        set(),
    ),
}  # fmt: skip
PROXY = (
    ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
    {"DMS_SITE_ADDRESS", "DMS_TLS", "DMS_WEB_HOST", "DMS_WEB_PORT"},
)
# what every application service gets (compose: x-app environment plus .env)
APP_ENV = {
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_URL",
    "MEDIA_ROOT",
    "DJANGO_SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DMS_PUBLIC_BASE_URL",
}
# names only the native run needs (ports and folders that a container has on its own)
LOCAL_ONLY_ENV = {
    "STATIC_ROOT",  # the image has it at /app/staticfiles (Dockerfile ENV)
    "WEB_BIND",  # gunicorn's port: 8000 in the container, a spare one here
    "CADDY_HTTP_PORT",
    "CADDY_HTTPS_PORT",
    "XDG_DATA_HOME",  # Caddy's /data and /config volumes
    "XDG_CONFIG_HOME",
    "METRICS_ENABLED",  # optional in .env; the smoke test scrapes /metrics
}


def native(command: list[str], paths: dict[str, str]) -> list[str]:
    """The compose command as run here: programs from the virtualenv, container paths mapped."""
    program, *args = command
    if program == "python":
        head = [sys.executable]
    elif program == "celery":
        head = [sys.executable, "-m", "celery"]
    elif program == "gunicorn":
        head = [str(VENV_BIN / "gunicorn")]
    else:
        head = [program]
    return head + [paths.get(arg, arg) for arg in args]
