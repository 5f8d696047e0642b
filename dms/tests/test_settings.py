"""Production settings refuse to start without their secrets and service URLs, and pass the
deployment checks when they are given."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "dms.settings.production",
    "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-random-production-secret-1234567890",
    "DATABASE_URL": "postgres://dms:secret@db.internal:5432/dms",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "dms.example.com",
    "DMS_PUBLIC_BASE_URL": "https://dms.example.com",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "ALLOWED_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"]
)
def test_production_refuses_to_start_without_each_required_setting(missing):
    # given production settings with one required variable left out
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    # when Django starts
    result = _manage("check", env=env)
    # then it stops and names the missing variable
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_a_database_that_is_not_postgres():
    result = _manage("check", env={**PROD_ENV, "DATABASE_URL": "sqlite:////tmp/x.sqlite3"})
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr


def test_production_passes_the_deployment_checks_when_configured():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
