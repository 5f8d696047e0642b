"""A worker SIGKILLed between the provider's answer and its commit sends nothing twice: the row
stays `sending`, the sweeper asks the provider (QuerySendDetails by OutId) and records what it
says. Real Postgres, Redis, Celery worker processes and the SDK against the local server."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging import services
from messaging.models import MessageStatus, OutboundMessage
from tests.conftest import _wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]


def _status(pk: int) -> str:
    return OutboundMessage.objects.values_list("status", flat=True).get(pk=pk)


def test_worker_killed_mid_send_sends_nothing_twice(
    aliyun_site, aliyun, customer, celery_worker, monkeypatch, settings
):
    # given the worker processes know the provider account (from the environment, as in
    # production) and the provider will take the message but "think" before answering
    monkeypatch.setenv(
        "DMS_MESSAGING_ACCOUNTS", json.dumps(settings.DMS_MESSAGING_ACCOUNTS, ensure_ascii=False)
    )
    aliyun.hold.set()
    worker = celery_worker(concurrency=1)
    # when a reminder is queued, the worker hands it to the provider...
    message = services.message_send(
        site=aliyun_site,
        kind="reminder_day_before",
        context={"start": "12月6日 09:00", "plate": "沪A12345"},
        customer=customer,
        channel="sms",
    )
    assert aliyun.held.wait(timeout=120), worker.log()[-3000:]
    # ...and dies before it can record the answer
    worker.kill()
    aliyun.hold.clear()
    assert _status(message.pk) == MessageStatus.SENDING
    assert len(aliyun.requests) == 1
    # when a new worker runs and the sweeper finds the row stuck in `sending`
    celery_worker(concurrency=1)
    later = timezone.now() + services.RECONCILE_AFTER + timedelta(minutes=1)
    assert services.messages_sweep(now=later)["reconciling"] == 1
    # then the provider is asked instead of sent to again, and the message is recorded sent
    _wait_for(lambda: _status(message.pk) == MessageStatus.SENT, timeout=120, what="reconciliation")
    assert len(aliyun.requests) == 1
    assert [m["out_id"] for m in aliyun.sent] == [str(message.key)]
    # and another sweep (or a redelivered task) changes nothing
    services.messages_sweep(now=later + timedelta(minutes=10))
    assert services.message_deliver(message_id=message.pk) == "skipped"
    assert len(aliyun.requests) == 1
