"""WeChat service-account template messages against a local server speaking its API."""

import pytest
from django.urls import reverse

from messaging import services
from messaging.models import (
    InboundMessage,
    MessageStatus,
    MessageTemplate,
    SiteChannel,
    WeChatLink,
)

from .servers.wechat import WeChatServer

pytestmark = pytest.mark.django_db(transaction=True)
OPENID = "oABCD1234567890wang"


@pytest.fixture
def wechat(settings):
    with WeChatServer(templates={"TPL-READY"}, followers={OPENID}) as server:
        settings.DMS_MESSAGING_ACCOUNTS = {"wx": server.account}
        yield server


@pytest.fixture
def wechat_site(site, wechat, customer):
    SiteChannel.objects.create(site=site, channel="wechat", provider="wechat", account="wx")
    MessageTemplate.objects.create(
        site=site,
        kind="car_ready",
        channel="wechat",
        language="en",
        body="{customer_name}: {plate} is ready.",
        provider_template="TPL-READY",
    )
    WeChatLink.objects.create(customer=customer, openid=OPENID)
    return site


def _url(live_server) -> str:
    path = reverse(
        "messaging:inbound", kwargs={"provider": "wechat", "account": "wx", "token": "-"}
    )
    return live_server.url + path


def _ready(site, customer):
    return services.message_send(
        site=site, kind="car_ready", context={"plate": "沪A1"}, customer=customer, language="en"
    )


def test_linked_customer_gets_a_template_message_delivered(
    wechat_site, wechat, customer, live_server
):
    # WeChat comes first for a customer who linked it
    message = _ready(wechat_site, customer)
    assert message.channel == "wechat"
    assert services.message_deliver(message_id=message.pk) == "sent"
    (sent,) = wechat.sent
    assert sent["openid"] == OPENID
    assert sent["data"]["plate"] == {"value": "沪A1"}
    assert sent["client_msg_id"] == str(message.key)
    (response,) = wechat.push_job_finished(_url(live_server))
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_server_check_and_forged_push(wechat_site, wechat, customer, live_server):
    answer, echo = wechat.verify_server(_url(live_server))
    assert (answer.status_code, answer.text) == (200, echo)
    forged, _echo = wechat.verify_server(_url(live_server), token="guess")
    assert forged.status_code == 403
    message = _ready(wechat_site, customer)
    services.message_deliver(message_id=message.pk)
    wechat.blocked.add(OPENID)
    (response,) = wechat.push_job_finished(_url(live_server), token="guess")
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_td_reply_withdraws_wechat_consent(wechat_site, wechat, customer, live_server):
    message = _ready(wechat_site, customer)
    services.message_deliver(message_id=message.pk)
    assert wechat.push_text(_url(live_server), OPENID, "退订").status_code == 200
    link = WeChatLink.objects.get(customer=customer)
    assert link.consent is False
    reply = InboundMessage.objects.get()
    assert (reply.handled, reply.reply_to_id) == ("opt_out", message.pk)
    # and no more messages go to WeChat (this site has no other channel)
    with pytest.raises(services.ApplicationError, match="accepts no message channel"):
        _ready(wechat_site, customer)


def test_expired_token_is_renewed_and_the_message_sent_once(wechat_site, wechat, customer):
    first = _ready(wechat_site, customer)
    services.message_deliver(message_id=first.pk)
    wechat.expire_tokens()
    second = services.message_send(
        site=wechat_site,
        kind="car_ready",
        context={"plate": "沪A2"},
        customer=customer,
        language="en",
        source_key="again",
    )
    assert services.message_deliver(message_id=second.pk) == "sent"
    assert len(wechat.sent) == 2


def test_unfollowed_customer_fails_for_good_and_resend_is_deduplicated(
    wechat_site, wechat, customer
):
    message = _ready(wechat_site, customer)
    config = SiteChannel.objects.get(site=wechat_site)
    out = services._outgoing(message, config)
    services._backend(config).send(out)
    services._backend(config).send(out)  # the same client_msg_id: WeChat sends it once
    assert len(wechat.sent) == 1
    wechat.unfollowed.add(OPENID)
    other = services.message_send(
        site=wechat_site,
        kind="car_ready",
        context={"plate": "沪A3"},
        customer=customer,
        language="en",
        source_key="x",
    )
    assert services.message_deliver(message_id=other.pk) == "failed"
    other.refresh_from_db()
    assert other.error_code == "43004"


# --- web authorization: the customer links their WeChat ----------------------------------------
def _code_for(wechat, openid: str) -> str:
    """WeChat's authorization page, as the customer's phone goes through it: the code it gives."""
    from urllib.parse import parse_qs, urlsplit

    import requests

    wechat.user = openid
    url = services.wechat_authorize_url(
        site=SiteChannel.objects.get(channel="wechat").site,
        redirect_uri="https://dms.example.com/p/wechat/back/",
        state="42x1700000000xabc",
    )
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["42x1700000000xabc"]
    return query["code"][0]


def test_a_code_from_the_authorization_page_gives_the_openid_once(wechat_site, wechat):
    code = _code_for(wechat, "oNEW0000000000000000000000001")
    assert services.wechat_openid_for_code(site=wechat_site, code=code) == (
        "oNEW0000000000000000000000001"
    )
    with pytest.raises(services.ApplicationError, match="did not confirm your account") as used:
        services.wechat_openid_for_code(site=wechat_site, code=code)
    assert used.value.extra["code"] == "40163"
    with pytest.raises(services.ApplicationError) as wrong:
        services.wechat_openid_for_code(site=wechat_site, code="guessed")
    assert wrong.value.extra["code"] == "40029"


def test_a_wrong_app_secret_is_refused_by_wechat(wechat_site, wechat, settings):
    code = _code_for(wechat, "oNEW0000000000000000000000001")
    settings.DMS_MESSAGING_ACCOUNTS = {"wx": {**wechat.account, "app_secret": "old"}}
    with pytest.raises(services.ApplicationError) as exc:
        services.wechat_openid_for_code(site=wechat_site, code=code)
    assert exc.value.extra["code"] == "40125"


def test_linking_records_consent_and_one_openid_serves_one_customer_per_site(wechat_site, customer):
    from customers.tests.factories import CustomerFactory
    from dms.tests.factories import SiteFactory

    WeChatLink.objects.all().delete()
    assert services.wechat_link_offered(site=wechat_site, customer=customer)
    link = services.wechat_link_record(customer=customer, openid=OPENID)
    assert (link.openid, link.consent) == (OPENID, True)
    assert link.consent_at is not None
    assert not services.wechat_link_offered(site=wechat_site, customer=customer)
    # the same customer again (a new phone): the newer openid
    again = services.wechat_link_record(customer=customer, openid="oOTHERPHONE")
    assert (again.pk, again.openid) == (link.pk, "oOTHERPHONE")
    # another customer of the site may not take it; one of another site may
    neighbour = CustomerFactory(site=wechat_site)
    with pytest.raises(services.ConflictError, match="another customer"):
        services.wechat_link_record(customer=neighbour, openid="oOTHERPHONE")
    assert not WeChatLink.objects.filter(customer=neighbour).exists()
    elsewhere = CustomerFactory(site=SiteFactory())
    assert services.wechat_link_record(customer=elsewhere, openid="oOTHERPHONE").consent


def test_no_link_offered_without_a_wechat_account(site, customer, settings):
    settings.DMS_MESSAGING_ACCOUNTS = {}
    assert not services.wechat_link_offered(site=site, customer=customer)
    SiteChannel.objects.create(site=site, channel="wechat", provider="wechat", account="wx")
    assert not services.wechat_link_offered(site=site, customer=customer)  # no AppID
    settings.DMS_MESSAGING_ACCOUNTS = {"wx": {"app_id": "wx1", "app_secret": "s"}}
    assert services.wechat_link_offered(site=site, customer=customer)
    SiteChannel.objects.filter(site=site).update(active=False)
    assert not services.wechat_link_offered(site=site, customer=customer)
