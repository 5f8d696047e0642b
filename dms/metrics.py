"""Prometheus metrics at /metrics (METRICS_ENABLED=true; see docs/deployment.md).

django-prometheus measures requests (latency by view), the database and the cache. Each app adds
gauges read from the database at scrape time through settings.DMS_METRICS_COLLECTORS: dotted
paths of functions that yield prometheus_client metric families. This module also reports the
length of every Celery queue on a Redis broker.

Under gunicorn (several processes) set PROMETHEUS_MULTIPROC_DIR to an empty folder shared by
the processes of one container: every process writes its figures there and any of them answers
the scrape with all of them (deploy/gunicorn.conf.py drops a dead worker's)."""

import logging
import os

from django.conf import settings
from django.http import HttpResponse
from django.utils.module_loading import import_string
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from dms.cache import RedisCache

logger = logging.getLogger(__name__)


def celery_queue_lengths():
    """dms_celery_queue_length{queue}: messages waiting in each queue (Redis broker only)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return
    import redis

    gauge = GaugeMetricFamily(
        "dms_celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"]
    )
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        for queue in settings.DMS_CELERY_QUEUES:
            gauge.add_metric([queue], client.llen(queue))
    finally:
        client.close()
    yield gauge


class _AppCollector:
    """The gauges of settings.DMS_METRICS_COLLECTORS, computed when Prometheus scrapes."""

    def collect(self):
        for path in getattr(settings, "DMS_METRICS_COLLECTORS", ()):
            try:
                yield from import_string(path)()
            except Exception:  # one broken gauge must not hide the others
                logger.exception("metrics collector %s failed", path)


_app_registry = CollectorRegistry(auto_describe=False)
_app_registry.register(_AppCollector())


def metrics_view(request):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(_app_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


_MISSING = object()


class MeasuredRedisCache(RedisCache):
    """Django's Redis cache (one client per pool: dms.cache), counting gets, hits and misses
    into django-prometheus' cache metrics (django-prometheus' Redis backend needs the
    django-redis package; this does not)."""

    def get(self, key, default=None, version=None):
        from django_prometheus.cache import metrics

        metrics.django_cache_get_total.labels(backend="redis").inc()
        try:
            value = super().get(key, _MISSING, version=version)
        except Exception:
            metrics.django_cache_get_fail_total.labels(backend="redis").inc()
            raise
        if value is _MISSING:
            metrics.django_cache_misses_total.labels(backend="redis").inc()
            return default
        metrics.django_cache_hits_total.labels(backend="redis").inc()
        return value
