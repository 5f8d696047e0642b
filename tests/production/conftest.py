"""Fixtures for the production tests: the production settings run as separate processes, the
way the containers run them (see docker-compose.yml)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_CI_ENV = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

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
    reuse = os.environ.get("DMS_TEST_COLLECTED_STATIC")  # a folder collected before, to iterate
    if reuse and (Path(reuse) / "staticfiles.json").exists():
        return Path(reuse)
    target = tmp_path_factory.mktemp("staticfiles")
    result = manage(
        "collectstatic", "--noinput", "-v", "1", env={**PRODUCTION_ENV, "STATIC_ROOT": str(target)}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return target


def run_script(code: str, env: dict[str, str], timeout: int = 600) -> dict:
    """Run `code` in a new Python process under `env` (django set up first); it reports by
    assigning a JSON-able `result`, which is returned."""
    import json
    import textwrap

    program = (
        "import json, sys, django\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "django.setup()\n"
        + textwrap.dedent(code)
        + "\nsys.stdout.write('RESULT ' + json.dumps(result, default=str) + '\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**clean_environ(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert lines, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.fixture
def throwaway_redis(tmp_path):
    """A redis-server of its own on a spare port (the production tests' broker and cache)."""
    from tests.conftest import RedisServer

    if not os.path.exists("/usr/bin/redis-server"):
        pytest.skip("needs /usr/bin/redis-server")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def pg_cluster():
    """A PostgreSQL cluster of the test's own on a spare port (servers.PostgresCluster)."""
    from .servers import PostgresCluster, pg_bin

    if not os.path.exists(pg_bin("initdb")):
        pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    clusters = []

    def _start(**settings):
        cluster = PostgresCluster().init(**settings).start()
        clusters.append(cluster)
        return cluster

    yield _start, clusters
    for cluster in reversed(clusters):
        cluster.remove()
