"""The outreach gauges Prometheus scrapes: due work, the oldest due task's age, webhook
failures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.tests.factories import VehicleFactory
from dms.metrics import celery_queue_lengths
from followups.metrics import collect
from outreach.models import CallTask, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db


def _task(site, n, status, due_minutes_ago):
    vehicle = VehicleFactory(owner__site=site)
    due = timezone.now() - timedelta(minutes=due_minutes_ago)
    return CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        channel="sms",
        source_key=f"metrics:{n}",
        customer=vehicle.owner,
        vehicle=vehicle,
        due_at=due,
        due_until=due + timedelta(days=3),
        status=status,
    )


def _samples() -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in collect()
        for s in family.samples
    }


def test_queue_depth_and_oldest_due_age(site):
    assert _samples()[("dms_outreach_oldest_due_age_seconds", ())] == 0
    _task(site, 1, TaskStatus.SCHEDULED, due_minutes_ago=30)
    _task(site, 2, TaskStatus.SCHEDULED, due_minutes_ago=-60)  # not due yet: not counted
    _task(site, 3, TaskStatus.QUEUED, due_minutes_ago=5)
    _task(site, 4, TaskStatus.SENT, due_minutes_ago=300)  # done: not counted
    samples = _samples()
    assert samples[("dms_outreach_queue_depth", (("state", "due"),))] == 1
    assert samples[("dms_outreach_queue_depth", (("state", "queued"),))] == 1
    assert 29 * 60 < samples[("dms_outreach_oldest_due_age_seconds", ())] < 31 * 60
    assert samples[("dms_webhook_failures", (("state", "failed"),))] == 0


def test_celery_queue_lengths_are_read_from_a_redis_broker(settings):
    families = list(celery_queue_lengths())
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        assert families == []
        return
    (family,) = families
    assert {s.labels["queue"] for s in family.samples} == set(settings.DMS_CELERY_QUEUES)
