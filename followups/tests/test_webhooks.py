"""Webhooks against a real local HTTP server: signature, event filter, retry with backoff, log."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from dms import audit
from followups import services, webhooks
from followups.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

from .factories import agent, delivered_ro
from .webhook_server import WebhookReceiver

pytestmark = pytest.mark.django_db


def _subscribe(site, url, events=(), max_attempts=3):
    return WebhookSubscription.objects.create(
        site=site,
        name="call centre",
        url=url,
        secret="s3cret",
        events=list(events),
        max_attempts=max_attempts,
    )


def test_followup_event_is_posted_signed(site, django_capture_on_commit_callbacks):
    agent(site)
    with WebhookReceiver() as receiver:
        _subscribe(site, receiver.url, events=["call_task"])
        ro = delivered_ro(site=site)
        with django_capture_on_commit_callbacks(execute=True):
            task = services.followup_schedule_for_delivery(repair_order=ro)
        delivery = WebhookDelivery.objects.get()
        assert webhooks.delivery_attempt(delivery_id=delivery.pk) == "delivered"
    [request] = receiver.received
    body = request["body"]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert request["headers"]["x-dms-signature"] == expected
    event = json.loads(body)
    assert event["event"] == "call_task.scheduled"
    assert event["subject"] == {"type": "call_task", "id": task.pk}
    assert event["site"] == site.code
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.log[0]["status"] == 204


def test_filter_skips_events_not_subscribed(site, django_capture_on_commit_callbacks):
    _subscribe(site, "http://127.0.0.1:9/", events=["complaint"])
    with django_capture_on_commit_callbacks(execute=True):
        services.followup_schedule_for_delivery(repair_order=delivered_ro(site=site))
    assert not WebhookDelivery.objects.exists()


def test_other_sites_events_are_not_sent(site, django_capture_on_commit_callbacks):
    from dms.tests.factories import SiteFactory

    _subscribe(SiteFactory(), "http://127.0.0.1:9/")
    with django_capture_on_commit_callbacks(execute=True):
        services.followup_schedule_for_delivery(repair_order=delivered_ro(site=site))
    assert not WebhookDelivery.objects.exists()


def test_failed_delivery_is_retried_with_growing_backoff_then_succeeds(site):
    with WebhookReceiver(fail_first=2) as receiver:
        sub = _subscribe(site, receiver.url, max_attempts=5)
        ro = delivered_ro(site=site)
        entry = audit.record(
            subject=ro, action="deliver", from_state="invoiced", to_state="delivered"
        )
        webhooks.events_publish(entry.pk)
        delivery = WebhookDelivery.objects.get(subscription=sub)
        t0 = timezone.now()
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0) == "retry"
        delivery.refresh_from_db()
        first_wait = delivery.next_attempt_at - t0
        # not yet due: nothing is sent
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0) == "skipped"
        t1 = delivery.next_attempt_at
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=t1) == "retry"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at - t1 == 2 * first_wait
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at) == (
            "delivered"
        )
    delivery.refresh_from_db()
    assert [a["status"] for a in delivery.log] == [500, 500, 204]
    assert len(receiver.received) == 3
    # every attempt carried the same signed body
    assert len({r["body"] for r in receiver.received}) == 1
    assert json.loads(receiver.received[0]["body"])["event"] == "repair_order.deliver"


def test_unreachable_endpoint_fails_after_max_attempts(site):
    sub = _subscribe(site, "http://127.0.0.1:9/nothing-listens", max_attempts=2)
    ro = delivered_ro(site=site)
    webhooks.events_publish(audit.record(subject=ro, action="deliver").pk)
    delivery = WebhookDelivery.objects.get(subscription=sub)
    now = timezone.now()
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=now) == "retry"
    later = now + timedelta(hours=1)
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=later) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 2
    assert delivery.last_error


def test_publishing_an_event_twice_creates_one_delivery(site):
    _subscribe(site, "http://127.0.0.1:9/")
    entry = audit.record(subject=delivered_ro(site=site), action="deliver")
    webhooks.events_publish(entry.pk)
    webhooks.events_publish(entry.pk)
    assert WebhookDelivery.objects.count() == 1
