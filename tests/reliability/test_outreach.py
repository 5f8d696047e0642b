"""The outreach engine with the real things: Postgres, Redis and a Celery worker process.

Time-independent: the test site calls every day around the clock, so the worker's real clock
is always inside calling hours; rows are made due by their own `due_at`.
"""

import json
from datetime import time, timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from customers.models import Channel
from dms.models import AuditEntry, OpeningHours
from dms.tests.factories import SiteFactory
from outreach import services
from outreach.models import CallTask, OutboundMessage, TaskKind, TaskStatus
from tests.conftest import _wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]
FINISHED = (TaskStatus.OPEN, TaskStatus.SENT)


def _always_open_site():
    site = SiteFactory(hours=[], calling_hours_start=time(0, 0), calling_hours_end=time(23, 59, 59))
    for weekday in range(7):
        OpeningHours.objects.create(
            site=site, weekday=weekday, opens=time(0, 0), closes=time(23, 59)
        )
    return site


def _due_tasks(site, n: int) -> list[int]:
    from customers.tests.factories import CustomerFactory

    customers = CustomerFactory.create_batch(20, site=site)
    now = timezone.now()
    rows = [
        CallTask(
            site=site,
            kind=TaskKind.MAINTENANCE_DUE,
            source_key=f"load:{i}",
            customer=customers[i % 20],
            channel=Channel.SMS if i % 2 else Channel.CALL,
            message=f"Reminder {i}",
            due_at=now - timedelta(minutes=1),
            due_until=now + timedelta(days=2),
        )
        for i in range(n)
    ]
    return [t.pk for t in CallTask.objects.bulk_create(rows)]


def _processed() -> int:
    return CallTask.objects.filter(status__in=FINISHED).count()


def _assert_each_processed_exactly_once(n: int):
    assert CallTask.objects.filter(status__in=FINISHED).count() == n
    assert CallTask.objects.filter(channel=Channel.SMS, status=TaskStatus.SENT).count() == n // 2
    assert OutboundMessage.objects.count() == n // 2
    # one "open"/"sent" audit row per task: a second worker run would have written another
    per_task = (
        AuditEntry.objects.filter(action__in=["open", "sent"])
        .values("object_id")
        .annotate(n=Count("id"))
    )
    assert len(per_task) == n
    assert {row["n"] for row in per_task} == {1}


def test_thousand_due_tasks_are_processed_exactly_once(celery_worker):
    # given 1,000 due tasks (half calls, half SMS) and a real worker
    site = _always_open_site()
    _due_tasks(site, 1000)
    celery_worker(concurrency=4)
    # when the minute sweeper runs twice (a second beat tick while the first batch is in flight)
    first = services.outreach_sweep(batch_size=200)
    second = services.outreach_sweep(batch_size=200)
    # then every row was claimed once and acted on once
    assert first["claimed"] == 1000
    assert second["claimed"] == 0
    _wait_for(lambda: _processed() == 1000, timeout=300, what="1,000 tasks", interval=0.5)
    _assert_each_processed_exactly_once(1000)


def test_worker_killed_mid_batch_loses_none_and_duplicates_none(celery_worker):
    # given 3,000 due tasks handed out in batches of 100 (a batch commits as one chunk, so small
    # batches leave most of the work in flight when the worker dies)
    site = _always_open_site()
    _due_tasks(site, 3000)
    worker = celery_worker(concurrency=4)
    services.outreach_sweep(batch_size=100)
    # when the worker is SIGKILLed part-way through
    _wait_for(lambda: _processed() >= 100, timeout=120, what="the first 100 tasks")
    worker.kill()
    done_at_kill = _processed()
    assert done_at_kill < 3000, f"the worker finished before it could be killed ({done_at_kill})"
    # and a new worker starts; the sweeper hands out again what the dead worker had claimed
    celery_worker(concurrency=4)
    services.outreach_sweep(now=timezone.now() + services.REQUEUE_AFTER + timedelta(minutes=1))
    # then all 3,000 are done, each exactly once
    _wait_for(
        lambda: _processed() == 3000, timeout=300, what="all tasks after restart", interval=0.5
    )
    _assert_each_processed_exactly_once(3000)
    assert not CallTask.objects.filter(status=TaskStatus.QUEUED).exists()


def test_delivery_with_redis_down_succeeds_and_followup_goes_out_when_it_is_back(
    celery_worker, redis_server, use_broker, settings, monkeypatch, tmp_path
):
    from dms.models import Role
    from dms.tests.factories import make_staff
    from outreach import webhooks
    from outreach.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
    from outreach.tests.webhook_server import WebhookReceiver, make_certificate
    from workorders.models import HANDOVER_ITEMS, ROStatus
    from workorders.services import ro_deliver
    from workorders.tests.factories import RepairOrderFactory

    site = _always_open_site()
    make_staff(role=Role.FOLLOWUP_AGENT, site=site, username="agent_rel")
    ro = RepairOrderFactory(vehicle__owner__site=site, site=site, status=ROStatus.INVOICED)
    # the webhook listener is a local TLS server this test (and its worker) may reach
    certificate = make_certificate(tmp_path)
    ca_file = str(certificate.with_name("listener.crt"))
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.OUTBOUND_CA_FILE = ca_file
    monkeypatch.setenv("DMS_TEST_OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("DMS_TEST_OUTBOUND_CA_FILE", ca_file)
    with WebhookReceiver(certificate=certificate) as receiver, use_broker(redis_server.url):
        WebhookSubscription.objects.create(
            site=site, name="oem", url=receiver.url, secret="k", events=["repair_order"]
        )
        celery_worker(concurrency=2, broker_port=redis_server.port)
        # given the broker is down
        redis_server.stop()
        # when the advisor delivers the car, it still succeeds
        ro = ro_deliver(
            repair_order_id=ro.pk,
            actor=ro.advisor,
            payment_method="cash",
            handover=dict.fromkeys(HANDOVER_ITEMS, True),
        )
        assert ro.status == ROStatus.DELIVERED
        task = CallTask.objects.get(repair_order=ro, kind=TaskKind.FOLLOWUP)
        assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING
        # the follow-up window arrives while Redis is still down: claimed, but cannot be handed out
        CallTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=1))
        services.outreach_sweep()
        task.refresh_from_db()
        assert task.status == TaskStatus.QUEUED
        # then Redis comes back; the next sweeps hand out what waited
        redis_server.start()
        services.outreach_sweep(now=timezone.now() + services.REQUEUE_AFTER + timedelta(minutes=1))
        webhooks.deliveries_sweep(now=timezone.now() + timedelta(minutes=1))
        _wait_for(
            lambda: CallTask.objects.get(pk=task.pk).status == TaskStatus.OPEN,
            timeout=120,
            what="the follow-up to open",
            interval=0.5,
        )
        _wait_for(
            lambda: WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED,
            timeout=120,
            what="the delivery webhook",
            interval=0.5,
        )
    task.refresh_from_db()
    assert task.assignee.username == "agent_rel"
    assert [json.loads(r["body"])["event"] for r in receiver.received] == ["repair_order.deliver"]
