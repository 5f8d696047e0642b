"""Fixtures for the production tests: the production settings run as separate processes, the
way the containers run them (see docker-compose.yml)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What every process of the image needs to start under dms.settings.production (placeholders:
# collectstatic and check touch neither the database nor Redis).
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "dms.settings.production",
    "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-random-production-secret-1234567890",
    "DATABASE_URL": "postgres://dms:secret@db.internal:5432/dms",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "dms.example.com",
    "DMS_PUBLIC_BASE_URL": "https://dms.example.com",
}


def clean_environ() -> dict[str, str]:
    """This process's environment without any setting the production settings read."""
    prefixes = (
        "DJANGO_",
        "DATABASE_",
        "REDIS_",
        "ALLOWED_",
        "CSRF_",
        "MEDIA_",
        "STATIC_",
        "CACHE_",
        "SENTRY_",
        "METRICS_",
        "PROMETHEUS_",
        "LOG_",
        "DMS_",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def manage(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean_environ(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """`collectstatic` under the production settings (hashed, compressed manifest storage) into
    a temporary folder, as the image build does; the folder."""
    if not (ROOT / "static" / "vendor" / "htmx.min.js").exists():
        pytest.fail("static/vendor is not built: run `make assets` (npm run build)")
    target = tmp_path_factory.mktemp("staticfiles")
    result = manage(
        "collectstatic", "--noinput", "-v", "1", env={**PRODUCTION_ENV, "STATIC_ROOT": str(target)}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return target
