"""Twilio through its SDK against a local server that speaks its API and signs its webhooks."""

import pytest
from django.urls import reverse

from messaging import services
from messaging.models import InboundMessage, MessageStatus, SiteChannel

from .servers.twilio import TwilioServer

pytestmark = pytest.mark.django_db(transaction=True)
SENDER = "+15005550006"


@pytest.fixture
def twilio(settings, live_server):
    with TwilioServer(numbers=(SENDER,)) as server:
        settings.DMS_MESSAGING_ACCOUNTS = {"twilio-us": server.account}
        settings.DMS_PUBLIC_BASE_URL = live_server.url
        yield server


@pytest.fixture
def twilio_site(site, twilio):
    SiteChannel.objects.create(
        site=site, channel="sms", provider="twilio", account="twilio-us", sender=SENDER
    )
    return site


@pytest.fixture
def us_customer(site):
    from customers.tests.factories import CustomerFactory

    return CustomerFactory(site=site, phone="+14155550101")


def _inbound_url(live_server) -> str:
    path = reverse(
        "messaging:inbound", kwargs={"provider": "twilio", "account": "twilio-us", "token": "-"}
    )
    return live_server.url + path


def _car_ready(site, customer, **kw):
    return services.message_send(
        site=site,
        kind="car_ready",
        context={"plate": "7ABC123"},
        customer=customer,
        channel="sms",
        language="en",
        **kw,
    )


def test_sent_then_delivered_by_signed_status_callback(twilio_site, twilio, us_customer):
    message = _car_ready(twilio_site, us_customer)
    assert services.message_deliver(message_id=message.pk) == "sent"
    assert len(twilio.messages) == 1
    sent = twilio.messages[0]
    assert sent["to"] == "+14155550101"
    assert "7ABC123" in sent["body"]
    message.refresh_from_db()
    assert message.provider_message_id == sent["sid"]
    # the status callback goes to our signed endpoint
    (response,) = twilio.push_status()
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_forged_status_callback_is_refused(twilio_site, twilio, us_customer):
    twilio.undeliverable.add("+14155550101")
    message = _car_ready(twilio_site, us_customer)
    services.message_deliver(message_id=message.pk)
    (response,) = twilio.push_status(token="not-the-auth-token")
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_stop_reply_opts_out_and_twilio_refusal_is_permanent(
    twilio_site, twilio, us_customer, live_server
):
    message = _car_ready(twilio_site, us_customer)
    services.message_deliver(message_id=message.pk)
    response = twilio.push_incoming(
        _inbound_url(live_server), sender="+14155550101", to=SENDER, text="STOP"
    )
    assert response.status_code == 200
    us_customer.refresh_from_db()
    assert us_customer.consent_sms is False
    assert InboundMessage.objects.get().handled == "opt_out"
    # an address given directly still reaches Twilio, which refuses the stopped number for good
    direct = services.message_send(
        site=twilio_site, kind="one_time_code", context={"code": "4711"}, to="+14155550101"
    )
    assert services.message_deliver(message_id=direct.pk) == "failed"
    direct.refresh_from_db()
    assert direct.error_code == "21610"


def test_forged_incoming_message_is_refused(twilio_site, twilio, us_customer, live_server):
    response = twilio.push_incoming(
        _inbound_url(live_server), sender="+14155550101", to=SENDER, text="STOP", token="x"
    )
    assert response.status_code == 403
    us_customer.refresh_from_db()
    assert us_customer.consent_sms is True


def test_too_many_requests_retries_and_wrong_token_fails(
    twilio_site, twilio, us_customer, settings
):
    twilio.per_second = 0
    message = _car_ready(twilio_site, us_customer)
    assert services.message_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.error_code == "20429"
    settings.DMS_MESSAGING_ACCOUNTS = {"twilio-us": {**twilio.account, "auth_token": "wrong"}}
    twilio.per_second = 100
    other = _car_ready(twilio_site, us_customer, source_key="2")
    assert services.message_deliver(message_id=other.pk) == "failed"
    other.refresh_from_db()
    assert other.error_code == "20003"


def test_lost_answer_is_reconciled_from_the_message_list(twilio_site, twilio, us_customer):
    from django.utils import timezone

    message = _car_ready(twilio_site, us_customer)
    config = SiteChannel.objects.get(site=twilio_site)
    message.status, message.attempts, message.claimed_at = "sending", 1, timezone.now()
    message.save()
    services._backend(config).send(services._outgoing(message, config))  # it reached Twilio
    assert services.message_reconcile(message_id=message.pk) == "found"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.provider_message_id == twilio.messages[0]["sid"]
    assert len(twilio.messages) == 1
