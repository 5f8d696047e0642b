"""message_send() and the worker step, through the recording backend and a real SMTP server."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dms.exceptions import ApplicationError
from dms.models import AuditEntry
from messaging import services
from messaging.models import (
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
    SiteChannel,
)

pytestmark = pytest.mark.django_db


def _send_now(message):
    return services.message_deliver(message_id=message.pk, now=timezone.now())


def test_message_send_queues_the_rendered_template_once_per_source(site, customer):
    # given the site's own reminder template in English
    MessageTemplate.objects.create(
        site=site,
        kind="reminder_day_before",
        channel="sms",
        language="en",
        body="Hi {customer_name}, see you {start}. Reply 1/2/3.",
    )
    # when the reminder is queued twice for the same appointment
    first = services.message_send(
        site=site,
        kind="reminder_day_before",
        context={"start": "Mon 09:00", "plate": "沪A1"},
        customer=customer,
        channel="sms",
        language="en",
        source_key="appt:1",
    )
    second = services.message_send(
        site=site,
        kind="reminder_day_before",
        context={"start": "Mon 09:00"},
        customer=customer,
        channel="sms",
        language="en",
        source_key="appt:1",
    )
    # then one message, queued, with the customer's name filled in, audited
    assert first.pk == second.pk
    assert first.status == MessageStatus.QUEUED
    assert first.body == f"Hi {customer.name}, see you Mon 09:00. Reply 1/2/3."
    assert first.to == customer.phone
    assert AuditEntry.objects.filter(object_id=first.pk, action="queued").count() == 1


def test_missing_placeholder_value_is_a_clear_error_and_queues_nothing(site, customer):
    with pytest.raises(ApplicationError, match="start"):
        services.message_send(
            site=site, kind="reminder_day_before", context={"plate": "沪A1"}, customer=customer
        )
    assert not OutboundMessage.objects.exists()


def test_opted_out_channel_is_refused_and_preferred_channel_is_taken(site, customer):
    customer.preferred_channel = "email"
    customer.consent_sms = False
    customer.save()
    with pytest.raises(ApplicationError):
        services.message_send(
            site=site, kind="car_ready", context={"plate": "沪A1"}, customer=customer, channel="sms"
        )
    message = services.message_send(
        site=site, kind="car_ready", context={"plate": "沪A1"}, customer=customer
    )
    assert message.channel == "email"
    assert message.to == customer.email


def test_recording_backend_sends_once(site, customer):
    message = services.message_send(
        site=site, kind="one_time_code", context={"code": "123456"}, to="+8613900002222"
    )
    assert _send_now(message) == "sent"
    assert _send_now(message) == "skipped"  # a second hand-out sends nothing
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.provider_message_id == f"rec-{message.key}"
    assert message.attempts == 1


def test_email_arrives_at_a_real_smtp_server(site, customer, smtp_server, settings):
    # given the site sends e-mail through an SMTP server
    settings.DMS_MESSAGING_ACCOUNTS = {"mail": smtp_server.account}
    SiteChannel.objects.create(
        site=site, channel="email", provider="smtp", account="mail", sender="service@4s.example"
    )
    # when a car-ready notice is sent by e-mail
    message = services.message_send(
        site=site,
        kind="car_ready",
        context={"plate": "沪A12345"},
        customer=customer,
        channel="email",
        language="en",
    )
    assert _send_now(message) == "sent"
    # then the SMTP server received it, with our key in its Message-ID
    assert len(smtp_server.received) == 1
    got = smtp_server.received[0]
    assert got["to"] == ["wang@example.com"]
    assert got["subject"] == f"{site.name} · Car ready"
    assert "沪A12345" in got["body"]
    assert str(message.key) in got["message_id"]
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_smtp_refusal_fails_the_message_and_tells_the_upper_layers(
    site, customer, smtp_server, settings
):
    from messaging.signals import message_failed

    settings.DMS_MESSAGING_ACCOUNTS = {"mail": smtp_server.account}
    SiteChannel.objects.create(site=site, channel="email", provider="smtp", account="mail")
    failed = []

    def on_failed(sender, message, **kwargs):
        failed.append(message.pk)

    message_failed.connect(on_failed)
    try:
        message = services.message_send(
            site=site, kind="status_link", context={"link": "https://x"}, to="x@refused.invalid"
        )
        assert _send_now(message) == "failed"
    finally:
        message_failed.disconnect(on_failed)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert failed == [message.pk]
    assert not smtp_server.received


def test_smtp_temporary_refusal_retries_later(site, customer, smtp_server, settings):
    settings.DMS_MESSAGING_ACCOUNTS = {"mail": smtp_server.account}
    SiteChannel.objects.create(site=site, channel="email", provider="smtp", account="mail")
    message = services.message_send(
        site=site, kind="status_link", context={"link": "https://x"}, to="x@busy.invalid"
    )
    assert _send_now(message) == "retry"
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert message.next_attempt_at > timezone.now()
    assert message.attempts == 1


def test_quiet_hours_are_checked_again_at_send_time(site, customer):
    # given a reminder queued, then the customer asks for quiet hours covering the send time
    message = services.message_send(
        site=site, kind="car_ready", context={"plate": "沪A1"}, customer=customer, channel="sms"
    )
    now = timezone.localtime(timezone.now(), site.tzinfo)
    customer.quiet_hours_start = (now - timedelta(hours=1)).time()
    customer.quiet_hours_end = (now + timedelta(hours=1)).time()
    customer.save()
    # when the worker takes it, it waits for the end of the quiet hours instead of sending
    assert _send_now(message) == "waiting"
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert message.next_attempt_at > timezone.now()
    # but a one-time code the customer asked for goes at once
    code = services.message_send(
        site=site, kind="one_time_code", context={"code": "1"}, customer=customer, channel="sms"
    )
    assert _send_now(code) == "sent"


def test_consent_withdrawn_after_queueing_fails_the_message(site, customer):
    message = services.message_send(
        site=site, kind="car_ready", context={"plate": "沪A1"}, customer=customer, channel="sms"
    )
    customer.consent_sms = False
    customer.save()
    assert _send_now(message) == "failed"
    message.refresh_from_db()
    assert message.error_code == "opted_out"
