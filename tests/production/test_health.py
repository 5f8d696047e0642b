"""The health endpoints answer by IP or service name (no ALLOWED_HOSTS, no https redirect) and
report each part of the stack; /health/ also wants a worker on every queue."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from dms.health import MigrationsApplied


def probe(client, path, host):
    """GET a health endpoint as a container probe would: from a thread with no event loop.
    The health view is async (django-health-check) and the middleware runs it with
    async_to_sync, which refuses a thread that already runs a loop — as the test process's main
    thread does once the browser tests' Playwright has started; gunicorn's threads never do."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(client.get, path, HTTP_HOST=host).result()


@pytest.fixture
def strict_host(settings):
    settings.ALLOWED_HOSTS = ["dms.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.django_db(transaction=True)
def test_web_health_answers_a_container_probe_by_ip_without_tripping_allowed_hosts(
    client, strict_host
):
    # a page by IP is refused (400) and plain http would be redirected …
    assert client.get("/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400
    # … the health endpoint answers the probe itself, in JSON, never cached
    response = probe(client, "/health/web/", "10.0.0.7:8000")
    assert response.status_code == 200, response.content
    checks = json.loads(response.content)
    assert set(checks.values()) == {"OK"}
    names = " ".join(checks)
    for part in ("Database", "MigrationsApplied", "Cache", "Broker", "Storage"):
        assert part in names
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
def test_stack_health_wants_a_worker_on_every_queue(client, strict_host, celery_worker):
    response = probe(client, "/health/", "web:8000")
    assert response.status_code == 500
    assert "No worker" in response.content.decode() or "unavailable" in response.content.decode()
    celery_worker(concurrency=1)
    response = probe(client, "/health/", "web:8000")
    assert response.status_code == 200, response.content
    assert set(json.loads(response.content).values()) == {"OK"}


@pytest.mark.django_db(transaction=True)
def test_an_unapplied_migration_makes_the_stack_unhealthy():
    recorder = MigrationRecorder(connection)
    last = recorder.migration_qs.filter(app="dms").order_by("-id").first()
    MigrationsApplied().run()  # all applied: no error
    recorder.migration_qs.filter(pk=last.pk).delete()
    try:
        with pytest.raises(Exception, match="1 migration"):
            MigrationsApplied().run()
    finally:
        recorder.record_applied(last.app, last.name)
