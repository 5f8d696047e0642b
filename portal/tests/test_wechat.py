"""The customer links their WeChat from their status or booking page, through WeChat's web
authorization (snsapi_base) against a local server speaking WeChat's API: the link is offered
only when the site sends by WeChat and the customer has not linked it, a forged or stale state
and a wrong code link nothing, "Not now" records nothing, and once linked the car's messages go
by WeChat."""

from datetime import time, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from dms.models import AuditEntry
from messaging import services as messaging
from messaging.models import MessageTemplate, SiteChannel, WeChatLink
from messaging.tests.servers.wechat import WeChatServer
from portal import services
from workorders.models import ROStatus
from workorders.tests.factories import ro_in_state

from .conftest import local, next_open_day

pytestmark = pytest.mark.django_db

IN_WECHAT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MicroMessenger/8.0.49.2600"
)
PHONE_BROWSER = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120 Mobile Safari/537"
OPENID = "oWANG00000000000000000000001"


@pytest.fixture
def wechat(settings):
    with WeChatServer(templates={"TPL-READY"}, followers={OPENID}) as server:
        server.user = OPENID
        settings.DMS_MESSAGING_ACCOUNTS = {"wx": server.account}
        yield server


def _car_in_the_workshop(*, wechat_channel: bool = True):
    ro = ro_in_state(ROStatus.IN_PROGRESS)
    site = ro.site
    # messages allowed around the clock (the test runs at any hour)
    site.calling_hours_start, site.calling_hours_end = time(0, 0), time(23, 59, 59)
    site.save()
    SiteChannel.objects.create(site=site, channel="sms", provider="recording")
    if wechat_channel:
        SiteChannel.objects.create(site=site, channel="wechat", provider="wechat", account="wx")
        MessageTemplate.objects.create(
            site=site,
            kind="car_ready",
            channel="wechat",
            language="zh-hans",
            body="{customer_name}，您的爱车{plate}已可提车。",
            provider_template="TPL-READY",
        )
    link = services.status_link_current(repair_order=ro)
    return ro, link, services.link_token(link)


def _to_wechat_and_back(client, token, wechat) -> str:
    """The customer taps the link in WeChat: our page → WeChat's authorization page (the local
    server) → back to our callback. Returns the callback's path and query."""
    start = client.get(f"/p/s/{token}/wechat/", HTTP_USER_AGENT=IN_WECHAT)
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.startswith(f"http://127.0.0.1:{wechat.port}/connect/oauth2/authorize?")
    assert authorize.endswith("#wechat_redirect")
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["appid"] == [wechat.app_id]
    assert asked["scope"] == ["snsapi_base"]
    assert asked["redirect_uri"][0].endswith("/p/wechat/back/")
    assert token not in authorize  # the customer's link never goes to WeChat
    back = requests.get(authorize, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    parts = urlsplit(back.headers["Location"])
    return f"{parts.path}?{parts.query}"


def test_the_customer_links_wechat_from_the_status_page_and_then_gets_messages_there(
    client, wechat
):
    ro, link, token = _car_in_the_workshop()
    customer = ro.customer
    # before: no WeChat, the car's messages go by SMS
    assert messaging.channels_in_order(site=ro.site, customer=customer) == ["sms"]
    page = client.get(f"/p/s/{token}/", HTTP_USER_AGENT=IN_WECHAT).content.decode()
    assert f'href="/p/s/{token}/wechat/"' in page
    assert "Get updates on WeChat" in page

    callback = _to_wechat_and_back(client, token, wechat)
    consent = client.get(callback, HTTP_USER_AGENT=IN_WECHAT)
    assert consent.status_code == 200
    html = consent.content.decode()
    assert "Send me updates about my car on WeChat" in html
    assert not WeChatLink.objects.exists()  # nothing before the customer agrees
    ticket = parse_qs_value(html, "ticket")

    done = client.post("/p/wechat/consent/", {"ticket": ticket, "answer": "yes"})
    assert done.status_code == 200
    assert "Your WeChat is linked" in done.content.decode()
    wx = WeChatLink.objects.get(customer=customer)
    assert (wx.openid, wx.consent) == (OPENID, True)
    assert timezone.now() - wx.consent_at < timedelta(minutes=1)
    entry = AuditEntry.objects.get(action="wechat_linked_online")
    assert (entry.data["link"], entry.data["purpose"], entry.object_id) == (
        link.pk,
        "status",
        ro.pk,
    )
    assert AuditEntry.objects.filter(action="wechat_linked", object_id=customer.pk).exists()

    # the page no longer offers it; WeChat is now the first channel
    page = client.get(f"/p/s/{token}/").content.decode()
    assert "/wechat/" not in page
    assert messaging.channels_in_order(site=ro.site, customer=customer) == ["wechat", "sms"]
    message = messaging.message_send(
        site=ro.site, kind="car_ready", context={"plate": ro.vehicle.plate}, customer=customer
    )
    assert (message.channel, message.to) == ("wechat", OPENID)
    assert messaging.message_deliver(message_id=message.pk) == "sent"
    (sent,) = wechat.sent
    assert sent["openid"] == OPENID
    assert sent["data"]["plate"] == {"value": ro.vehicle.plate}


def parse_qs_value(html: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_not_now_links_nothing_and_goes_back_to_the_page(client, wechat):
    _ro, _link, token = _car_in_the_workshop()
    consent = client.get(_to_wechat_and_back(client, token, wechat)).content.decode()
    answer = client.post(
        "/p/wechat/consent/", {"ticket": parse_qs_value(consent, "ticket"), "answer": "no"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == f"/p/s/{token}/"
    assert not WeChatLink.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="wechat_linked").exists()
    assert f'href="/p/s/{token}/wechat/"' in client.get(f"/p/s/{token}/").content.decode()


@pytest.mark.parametrize("case", ["forged", "altered", "expired", "link_replaced", "missing"])
def test_a_forged_or_stale_state_links_nothing(client, wechat, case):
    ro, link, token = _car_in_the_workshop()
    callback = _to_wechat_and_back(client, token, wechat)
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if case == "forged":
        query["state"] = f"{link.pk}x{int(timezone.now().timestamp())}x" + "0" * 64
    elif case == "altered":  # a valid state, pointed at another customer's link
        _other_ro, other_link, _t = _car_in_the_workshop()
        query["state"] = query["state"].replace(f"{link.pk}x", f"{other_link.pk}x", 1)
    elif case == "expired":
        query["state"] = services.wechat_state(link, now=timezone.now() - timedelta(minutes=11))
    elif case == "link_replaced":
        services.status_link_issue(repair_order=ro)
    else:
        del query["state"]
    answer = client.get(parts.path, query)
    assert answer.status_code == 404
    assert "Your WeChat was not linked" in answer.content.decode()
    assert "Please start again from your page" in answer.content.decode()
    assert not WeChatLink.objects.exists()


def test_an_invalid_or_used_code_is_a_clear_page_not_a_crash(client, wechat):
    _ro, _link, token = _car_in_the_workshop()
    callback = _to_wechat_and_back(client, token, wechat)
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    wrong = client.get(parts.path, {**query, "code": "not-a-code"})
    assert wrong.status_code == 400
    html = wrong.content.decode()
    assert "WeChat did not confirm your account" in html
    assert f'href="/p/s/{token}/"' in html  # back to their page, to start again
    assert client.get(callback).status_code == 200  # the real code, once
    again = client.get(callback)  # WeChat answers 40163: code been used
    assert again.status_code == 400
    assert not WeChatLink.objects.exists()


def test_wechat_unreachable_is_a_clear_page(client, wechat, settings):
    _ro, _link, token = _car_in_the_workshop()
    callback = _to_wechat_and_back(client, token, wechat)
    settings.DMS_MESSAGING_ACCOUNTS = {"wx": {**wechat.account, "base_url": "http://127.0.0.1:9"}}
    answer = client.get(callback)
    assert answer.status_code == 400
    assert "WeChat could not be reached" in answer.content.decode()


def test_a_forged_consent_answer_links_nothing(client, wechat):
    _ro, _link, token = _car_in_the_workshop()
    consent = client.get(_to_wechat_and_back(client, token, wechat)).content.decode()
    ticket = parse_qs_value(consent, "ticket")
    forged = ticket[:-3] + ("AAA" if not ticket.endswith("AAA") else "BBB")
    answer = client.post("/p/wechat/consent/", {"ticket": forged, "answer": "yes"})
    assert answer.status_code == 404
    assert not WeChatLink.objects.exists()


def test_a_wechat_account_linked_to_another_customer_of_the_site_is_refused(client, wechat):
    ro, _link, token = _car_in_the_workshop()
    neighbour = ro_in_state(ROStatus.IN_PROGRESS, site=ro.site).customer
    WeChatLink.objects.create(customer=neighbour, openid=OPENID)
    consent = client.get(_to_wechat_and_back(client, token, wechat)).content.decode()
    answer = client.post(
        "/p/wechat/consent/", {"ticket": parse_qs_value(consent, "ticket"), "answer": "yes"}
    )
    assert answer.status_code == 409
    assert "already receives another customer" in answer.content.decode()
    assert not WeChatLink.objects.filter(customer=ro.customer).exists()
    assert WeChatLink.objects.get(customer=neighbour).openid == OPENID


def test_no_wechat_link_without_a_wechat_channel(client, wechat):
    _ro, _link, token = _car_in_the_workshop(wechat_channel=False)
    page = client.get(f"/p/s/{token}/", HTTP_USER_AGENT=IN_WECHAT).content.decode()
    assert "/wechat/" not in page
    assert "Get updates on WeChat" not in page
    # the address typed by hand goes back to the page
    answer = client.get(f"/p/s/{token}/wechat/", HTTP_USER_AGENT=IN_WECHAT)
    assert (answer.status_code, answer["Location"]) == (302, f"/p/s/{token}/")


def test_no_wechat_link_when_the_account_has_no_credentials(client, wechat, settings):
    _ro, _link, token = _car_in_the_workshop()
    settings.DMS_MESSAGING_ACCOUNTS = {}
    assert "/wechat/" not in client.get(f"/p/s/{token}/").content.decode()


def test_outside_wechat_the_link_says_to_open_the_page_in_wechat(client, wechat):
    _ro, _link, token = _car_in_the_workshop()
    answer = client.get(f"/p/s/{token}/wechat/", HTTP_USER_AGENT=PHONE_BROWSER)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Open this page in WeChat" in html
    assert f"/p/s/{token}/" in html
    assert not wechat.authorized


def test_a_customer_who_sent_td_may_link_again(client, wechat):
    ro, _link, token = _car_in_the_workshop()
    WeChatLink.objects.create(customer=ro.customer, openid="oOLD", consent=False)
    assert f'href="/p/s/{token}/wechat/"' in client.get(f"/p/s/{token}/").content.decode()
    consent = client.get(_to_wechat_and_back(client, token, wechat)).content.decode()
    client.post(
        "/p/wechat/consent/", {"ticket": parse_qs_value(consent, "ticket"), "answer": "yes"}
    )
    wx = WeChatLink.objects.get(customer=ro.customer)
    assert (wx.openid, wx.consent) == (OPENID, True)


def test_the_booking_confirmation_offers_wechat_too(client, wechat, shop):
    site, customer = shop["site"], shop["customer"]
    SiteChannel.objects.create(site=site, channel="wechat", provider="wechat", account="wx")
    row, code = services.code_request(
        site=site,
        phone="13800138000",
        plate="沪A12345",
        pending={"services": ["oil"], "start": local(site, next_open_day(site), 9).isoformat()},
        address="10.0.0.1",
    )
    services.code_confirm(site=site, request_key=row.request_key, code=code)
    appointment, token = services.booking_complete(site=site, request_key=row.request_key)
    page = client.get(f"/p/b/{token}/").content.decode()
    assert f'href="/p/b/{token}/wechat/"' in page
    start = client.get(f"/p/b/{token}/wechat/", HTTP_USER_AGENT=IN_WECHAT)
    back = requests.get(start["Location"], allow_redirects=False, timeout=10)
    parts = urlsplit(back.headers["Location"])
    consent = client.get(f"{parts.path}?{parts.query}").content.decode()
    client.post(
        "/p/wechat/consent/", {"ticket": parse_qs_value(consent, "ticket"), "answer": "yes"}
    )
    assert WeChatLink.objects.get(customer=customer).openid == OPENID
    entry = AuditEntry.objects.get(action="wechat_linked_online")
    assert (entry.data["purpose"], entry.object_id) == ("booking", appointment.pk)
    assert "/wechat/" not in client.get(f"/p/b/{token}/").content.decode()
    # a cancelled booking does not offer it
    WeChatLink.objects.all().delete()
    services.booking_cancel(link=services.link_resolve(token=token, purpose="booking"))
    assert "/wechat/" not in client.get(f"/p/b/{token}/").content.decode()
