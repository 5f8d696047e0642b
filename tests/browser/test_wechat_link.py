"""A customer links their WeChat from the status page on a 360 px phone, in WeChat's own
browser: the page offers it, WeChat's authorization page (a local server speaking its API)
sends them back, they agree, and the page no longer offers it."""

import pytest
from playwright.sync_api import expect

from messaging.models import SiteChannel, WeChatLink
from messaging.tests.servers.wechat import WeChatServer
from portal import services as portal
from portal.tests.conftest import make_shop
from tests.conftest import screenshot
from workorders import services as ro

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
IN_WECHAT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MicroMessenger/8.0.49.2600"
)
OPENID = "oZHANG0000000000000000000001"


def test_link_wechat_from_the_status_page_on_the_phone(live_server, browser, settings):
    shop = make_shop()
    site, vehicle, advisor = shop["site"], shop["vehicle"], shop["advisors"][0]
    order = ro.repair_order_open(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        actor=advisor,
        concern="Oil change",
        odometer_km=vehicle.mileage_km + 5000,
    )
    token = portal.link_token(portal.status_link_current(repair_order=order))
    with WeChatServer(followers={OPENID}) as wechat:
        wechat.user = OPENID
        settings.DMS_MESSAGING_ACCOUNTS = {"wx": wechat.account}
        settings.DMS_PUBLIC_BASE_URL = live_server.url
        SiteChannel.objects.create(site=site, channel="wechat", provider="wechat", account="wx")
        context = browser.new_context(
            viewport=PHONE, locale="zh-CN", user_agent=IN_WECHAT, device_scale_factor=1
        )
        context.add_cookies(
            [{"name": "django_language", "value": "zh-hans", "url": live_server.url}]
        )
        page = context.new_page()
        page.set_default_timeout(15000)
        try:
            page.goto(f"{live_server.url}/p/s/{token}/")
            offer = page.locator("#wechat a")
            expect(offer).to_have_text("用微信接收通知")
            screenshot(page, "portal-wechat-offer-zh-hans")
            offer.click()
            # WeChat's authorization page sent the phone back to the consent question
            agree = page.locator("#wechat-consent button.primary")
            expect(agree).to_have_text("用微信给我发送爱车的通知")
            assert len(wechat.authorized) == 1
            assert not WeChatLink.objects.exists()
            screenshot(page, "portal-wechat-consent-zh-hans")
            agree.click()
            expect(page.locator("#wechat-done h1")).to_have_text("您的微信已绑定")
            screenshot(page, "portal-wechat-linked-zh-hans")
            link = WeChatLink.objects.get(customer=vehicle.owner)
            assert (link.openid, link.consent) == (OPENID, True)
            page.locator("#wechat-done a").click()
            expect(page.locator("[aria-current=step]")).to_have_attribute("data-step", "checked_in")
            expect(page.locator("#wechat")).to_have_count(0)
        finally:
            context.close()
