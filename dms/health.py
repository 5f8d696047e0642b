"""Health endpoints (django-health-check), answered before any other middleware so that a
container healthcheck or a load balancer reaches them by IP or service name: they neither trip
ALLOWED_HOSTS nor get redirected to https. They return JSON and never say more than which check
failed and why in one line.

- `/health/web/` — what one web process needs: database, migrations applied, cache, broker,
  media storage. The `web` container's healthcheck.
- `/health/` — the whole stack: the above plus a Celery worker consuming every queue. For the
  operator's monitoring and the reverse proxy's health page.
"""

import dataclasses
import datetime

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from health_check.base import HealthCheck
from health_check.contrib.celery import Ping
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView


@dataclasses.dataclass
class MigrationsApplied(HealthCheck):
    """Every migration of the code is applied (the one-shot `migrate` service has run)."""

    alias: str = DEFAULT_DB_ALIAS

    def run(self):
        from django.db.migrations.executor import MigrationExecutor

        connection = connections[self.alias]
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        finally:
            connection.close()  # this runs in a thread of its own: give the connection back
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied")


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker answers (Redis PING); nothing to check on the file-system broker."""

    def run(self):
        import redis

        url = settings.CELERY_BROKER_URL
        if not url.startswith(("redis://", "rediss://")):
            return
        client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"broker: {type(exc).__name__}") from exc
        finally:
            client.close()


@dataclasses.dataclass
class Workers(Ping):
    """A Celery worker answers the ping, and every queue (settings.DMS_CELERY_QUEUES) has one."""

    timeout: datetime.timedelta = dataclasses.field(
        default=datetime.timedelta(seconds=3), repr=False
    )

    def check_active_queues(self, *active_workers):
        consumed = {
            queue.get("name")
            for queues in (self.app.control.inspect(active_workers).active_queues() or {}).values()
            for queue in queues
        }
        missing = [q for q in settings.DMS_CELERY_QUEUES if q not in consumed]
        if missing:
            raise ServiceUnavailable(f"No worker for Celery queue(s): {', '.join(missing)}")


WEB_CHECKS = (
    "health_check.checks.Database",
    MigrationsApplied,
    "health_check.checks.Cache",
    Broker,
    "health_check.checks.Storage",
)


class Health(HealthCheckView):
    checks = (*WEB_CHECKS, Workers)

    def render_to_response(self, context, **response_kwargs):
        # JSON whatever the Accept header says: no template, no context processors
        return self.render_to_response_json(response_kwargs.get("status", 200))


class WebHealth(Health):
    checks = WEB_CHECKS


ENDPOINTS = {"/health/": Health.as_view(), "/health/web/": WebHealth.as_view()}


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers the health endpoints and, with METRICS_ENABLED, Prometheus'
    /metrics (dms.metrics) — GET/HEAD only — and passes everything else on."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.metrics = getattr(settings, "METRICS_ENABLED", False)

    def __call__(self, request):
        if request.method in ("GET", "HEAD"):
            view = ENDPOINTS.get(request.path_info)
            if view is not None:
                return async_to_sync(view)(request)
            if self.metrics and request.path_info == "/metrics":
                from .metrics import metrics_view

                return metrics_view(request)
        return self.get_response(request)
