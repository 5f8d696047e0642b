"""Alibaba Cloud SMS through its SDK against a local server that speaks its API."""

import pytest
from django.utils import timezone

from messaging import services
from messaging.models import InboundMessage, MessageStatus, SiteChannel

from .conftest import callback_url

pytestmark = pytest.mark.django_db(transaction=True)


def _reminder(site, customer, **kwargs):
    return services.message_send(
        site=site,
        kind="reminder_day_before",
        context={"start": "12月6日 09:00", "plate": "沪A12345"},
        customer=customer,
        channel="sms",
        language="zh-hans",
        **kwargs,
    )


def test_reminder_is_sent_and_delivered(aliyun_site, aliyun, customer, live_server):
    # given a reminder queued for the customer
    message = _reminder(aliyun_site, customer, source_key="appointment:1:x")
    # when the worker sends it
    assert services.message_deliver(message_id=message.pk) == "sent"
    # then the provider got it once, signed, with our OutId, and the customer's handset shows it
    assert len(aliyun.sent) == 1
    got = aliyun.sent[0]
    assert got["phone"] == "13800001111"
    assert got["out_id"] == str(message.key)
    assert (
        got["content"]
        == f"【某某汽车】{customer.name}，您的爱车沪A12345预约在12月6日 09:00保养。回复1确认，2改期，3取消。"
    )
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.provider_message_id == got["biz_id"]
    # when the provider pushes its receipt to our endpoint
    response = aliyun.push_receipts(callback_url(live_server, "status"))
    assert response.status_code == 200
    assert response.json()["code"] == 0
    # then the message is delivered
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.delivered_at is not None


def test_forged_receipt_is_refused(aliyun_site, aliyun, customer, live_server):
    aliyun.undeliverable.add("13800001111")
    message = _reminder(aliyun_site, customer)
    services.message_deliver(message_id=message.pk)
    response = aliyun.push_receipts(callback_url(live_server, "status", token="guessed"))
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT  # the forged "failed" changed nothing


def test_undeliverable_receipt_fails_the_message(aliyun_site, aliyun, customer, live_server):
    from messaging.signals import message_failed

    failed = []

    def on_failed(sender, message, **kwargs):
        failed.append((message.pk, message.error_code))

    message_failed.connect(on_failed)
    try:
        aliyun.undeliverable.add("13800001111")
        message = _reminder(aliyun_site, customer)
        services.message_deliver(message_id=message.pk)
        assert aliyun.push_receipts(callback_url(live_server, "status")).status_code == 200
    finally:
        message_failed.disconnect(on_failed)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert failed == [(message.pk, "MK:0001")]


def test_opt_out_reply_withdraws_sms_consent(aliyun_site, aliyun, customer, live_server):
    message = _reminder(aliyun_site, customer)
    services.message_deliver(message_id=message.pk)
    response = aliyun.push_reply(callback_url(live_server, "inbound"), "13800001111", "TD")
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.consent_sms is False
    assert customer.consent_sms_at is not None
    reply = InboundMessage.objects.get()
    assert (reply.handled, reply.customer_id, reply.reply_to_id) == (
        "opt_out",
        customer.pk,
        message.pk,
    )
    # and nothing more goes to that channel
    with pytest.raises(services.ApplicationError):
        _reminder(aliyun_site, customer)


def test_forged_reply_is_refused(aliyun_site, aliyun, customer, live_server):
    _reminder(aliyun_site, customer)
    response = aliyun.push_reply(callback_url(live_server, "inbound", "nope"), "13800001111", "TD")
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.consent_sms is True
    assert not InboundMessage.objects.exists()


def test_provider_refusals(aliyun_site, aliyun, customer, settings):
    # an illegal number is refused for good
    customer.phone = "+8612345"
    customer.save()
    bad = _reminder(aliyun_site, customer)
    assert services.message_deliver(message_id=bad.pk) == "failed"
    bad.refresh_from_db()
    assert bad.error_code == "isv.MOBILE_NUMBER_ILLEGAL"
    # a wrong secret: the provider refuses the signature
    customer.phone = "+8613800001111"
    customer.save()
    settings.DMS_MESSAGING_ACCOUNTS = {
        "aliyun-main": {**aliyun.account, "access_key_secret": "wrong"}
    }
    unsigned = _reminder(aliyun_site, customer, source_key="x")
    assert services.message_deliver(message_id=unsigned.pk) == "failed"
    unsigned.refresh_from_db()
    assert unsigned.error_code == "SignatureDoesNotMatch"
    assert aliyun.sent == []


def test_throttling_backs_off_and_sends_later(aliyun_site, aliyun, customer):
    # given the provider's per-number limit is reached
    aliyun.per_number_per_minute = 1
    first = _reminder(aliyun_site, customer, source_key="a")
    second = _reminder(aliyun_site, customer, source_key="b")
    assert services.message_deliver(message_id=first.pk) == "sent"
    # when the next one is refused with the business limit, it waits and is retried
    assert services.message_deliver(message_id=second.pk) == "retry"
    second.refresh_from_db()
    assert second.status == MessageStatus.QUEUED
    assert second.error_code == "isv.BUSINESS_LIMIT_CONTROL"
    assert second.next_attempt_at > timezone.now()
    # and once the limit clears it goes
    aliyun.per_number_per_minute = 5
    later = second.next_attempt_at
    assert services.message_deliver(message_id=second.pk, now=later) == "sent"
    assert len(aliyun.sent) == 2


def test_answer_lost_is_reconciled_without_sending_twice(aliyun_site, aliyun, customer):
    # given the provider took the message but the worker never recorded its answer
    message = _reminder(aliyun_site, customer)
    config = SiteChannel.objects.get(site=aliyun_site, channel="sms")
    from messaging.backends import backend_for

    # (the worker's first half, by hand: the row is `sending` and the provider has it)
    message.status, message.attempts, message.claimed_at = "sending", 1, timezone.now()
    message.save()
    backend_for(provider="aliyun", account="aliyun-main", sign_name=config.sign_name).send(
        services._outgoing(message, config)
    )
    assert len(aliyun.sent) == 1
    # when the sweeper reconciles it
    assert services.message_reconcile(message_id=message.pk) == "found"
    # then it is sent, and the provider still has one message
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert len(aliyun.requests) == 1


def test_never_received_is_sent_after_reconciling(aliyun_site, aliyun, customer):
    message = _reminder(aliyun_site, customer)
    message.status, message.attempts, message.claimed_at = "sending", 1, timezone.now()
    message.save()
    assert services.message_reconcile(message_id=message.pk) == "requeued"
    assert services.message_deliver(message_id=message.pk) == "sent"
    assert len(aliyun.requests) == 1


def test_one_sites_outage_backs_off_without_holding_up_another(
    aliyun_site, aliyun, customer, settings
):
    from customers.tests.factories import CustomerFactory
    from dms.tests.factories import SiteFactory
    from messaging.models import MessageTemplate
    from tests.conftest import _free_port

    # given another site whose provider account points at a server that is down
    down = SiteFactory(
        calling_hours_start=aliyun_site.calling_hours_start,
        calling_hours_end=aliyun_site.calling_hours_end,
    )
    settings.DMS_MESSAGING_ACCOUNTS = {
        **settings.DMS_MESSAGING_ACCOUNTS,
        "aliyun-down": {**aliyun.account, "endpoint": f"127.0.0.1:{_free_port()}"},
    }
    SiteChannel.objects.create(
        site=down, channel="sms", provider="aliyun", account="aliyun-down", sign_name="某某汽车"
    )
    for tpl in MessageTemplate.objects.filter(site=aliyun_site):
        tpl.pk, tpl.site = None, down
        tpl.save()
    stranded = _reminder(down, CustomerFactory(site=down, phone="+8613900009999"))
    fine = _reminder(aliyun_site, customer)
    # when both are sent, the unreachable provider's message waits with a backoff
    assert services.message_deliver(message_id=stranded.pk) == "retry"
    assert services.message_deliver(message_id=fine.pk) == "sent"
    stranded.refresh_from_db()
    assert (stranded.status, stranded.error_code) == (MessageStatus.QUEUED, "connect")
    assert stranded.next_attempt_at > timezone.now()
    assert [m["phone"] for m in aliyun.sent] == ["13800001111"]


@pytest.mark.redis
def test_the_sites_rate_limit_is_kept(aliyun_site, aliyun, customer):
    from datetime import timedelta

    SiteChannel.objects.filter(site=aliyun_site).update(per_second=2)
    now = timezone.now() + timedelta(days=1)  # a second of its own
    messages = [_reminder(aliyun_site, customer, source_key=str(i)) for i in range(3)]
    outcomes = [services.message_deliver(message_id=m.pk, now=now) for m in messages]
    assert outcomes == ["sent", "sent", "throttled"]
    assert len(aliyun.sent) == 2


def test_unreadable_push_is_a_400_not_a_500(aliyun_site, aliyun, live_server):
    import requests

    for body in (b"not json", b'{"a": 1}', b"[1, 2]"):
        response = requests.post(callback_url(live_server, "status"), data=body, timeout=10)
        assert response.status_code == 400, body
