"""Gauges of the outreach engine for Prometheus (dms.metrics, settings.DMS_METRICS_COLLECTORS):
how much due work waits, how late the oldest of it is, and failing webhook deliveries."""

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily


def collect():
    from outreach.models import CallTask, DeliveryStatus, TaskStatus, WebhookDelivery

    now = timezone.now()
    waiting = Q(status=TaskStatus.SCHEDULED, due_at__lte=now) | Q(status=TaskStatus.QUEUED)
    row = CallTask.objects.filter(waiting).aggregate(
        due=Count("id", filter=Q(status=TaskStatus.SCHEDULED)),
        queued=Count("id", filter=Q(status=TaskStatus.QUEUED)),
        oldest=Min("due_at"),
    )
    depth = GaugeMetricFamily(
        "dms_outreach_queue_depth",
        "Outreach tasks due and not yet acted on: due (not yet claimed by the sweeper) and "
        "queued (claimed, waiting for a worker)",
        labels=["state"],
    )
    depth.add_metric(["due"], row["due"])
    depth.add_metric(["queued"], row["queued"])
    yield depth
    yield GaugeMetricFamily(
        "dms_outreach_oldest_due_age_seconds",
        "How long the oldest due outreach task has been due (0 when none waits)",
        value=(now - row["oldest"]).total_seconds() if row["oldest"] else 0.0,
    )
    hooks = WebhookDelivery.objects.aggregate(
        failed=Count("id", filter=Q(status=DeliveryStatus.FAILED)),
        retrying=Count("id", filter=Q(status=DeliveryStatus.PENDING, attempts__gt=0)),
    )
    failures = GaugeMetricFamily(
        "dms_webhook_failures",
        "Webhook deliveries that failed: given up (failed) or failed at least once and waiting "
        "for their next attempt (retrying)",
        labels=["state"],
    )
    failures.add_metric(["failed"], hooks["failed"])
    failures.add_metric(["retrying"], hooks["retrying"])
    yield failures
