"""Messaging pages in a real browser at the advisor's and manager's screen size (1024×768),
in both languages: template preview with a real customer, the RO's one-click notices with
their delivery state, and the replies queue."""

from datetime import time

import pytest
from playwright.sync_api import expect

from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from messaging.backends import StatusReport
from messaging.models import InboundMessage, MessageStatus, OutboundMessage
from messaging.services import message_deliver, message_send, status_report_apply
from tests.conftest import screenshot
from workorders.models import ROStatus
from workorders.tests.factories import RepairOrderFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREEN = {"width": 1024, "height": 768}


@pytest.fixture
def shop():
    site = SiteFactory(
        name="浦东4S店",
        phone="021-5555 0000",
        calling_hours_start=time(0, 0),
        calling_hours_end=time(23, 59, 59),
    )
    customer = CustomerFactory(site=site, name="王建国", phone="+8613800001111")
    vehicle = VehicleFactory(owner=customer, plate="沪A12345")
    advisor = make_staff(
        role=Role.ADVISOR, site=site, username="lina", first_name="娜", last_name="李"
    )
    make_staff(role=Role.MANAGER, site=site, username="boss")
    make_staff(role=Role.FOLLOWUP_AGENT, site=site, username="amy")
    ro = RepairOrderFactory(vehicle=vehicle, site=site, advisor=advisor, status=ROStatus.READY)
    return {"site": site, "customer": customer, "ro": ro}


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_manager_previews_a_template_with_a_real_customer(live_server, login_page, shop, lang):
    page = login_page("boss", lang=lang, viewport=SCREEN)
    page.goto(f"{live_server.url}/messaging/templates/")
    screenshot(page, f"messaging-templates-{lang}")
    page.goto(f"{live_server.url}/messaging/templates/new/?kind=car_ready")
    page.fill(
        "textarea[name=body]", "{customer_name}，您的爱车{plate}已完工，请到{site_name}取车。"
    )
    page.click("button[name=preview]")
    expect(page.locator(".preview-bubble")).to_have_text(
        "王建国，您的爱车沪A12345已完工，请到浦东4S店取车。"
    )
    screenshot(page, f"messaging-template-preview-{lang}")
    # a placeholder this kind of message has no value for is a clear error, not a broken page
    page.fill("textarea[name=body]", "{customer_name} {promised}")
    page.click("button[name=save]")
    expect(page.locator("p.error")).to_be_visible()


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_advisor_sends_the_ready_notice_and_sees_it_delivered(live_server, login_page, shop, lang):
    ro = shop["ro"]
    page = login_page("lina", lang=lang, viewport=SCREEN)
    page.goto(f"{live_server.url}/ro/{ro.pk}/")
    page.click("#customer-messages button")
    expect(page.locator("#customer-messages table")).to_contain_text("+8613800001111")
    message = OutboundMessage.objects.get()
    assert message.kind == "car_ready"
    message_deliver(message_id=message.pk)
    status_report_apply(
        provider=message.provider, report=StatusReport(key=str(message.key), status="delivered")
    )
    page.reload()
    expect(page.locator("#customer-messages .badge.ok")).to_have_text(
        str(MessageStatus.DELIVERED.label) if lang == "en" else "已送达"
    )
    page.locator("#customer-messages").scroll_into_view_if_needed()
    screenshot(page, f"messaging-ro-notice-{lang}")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_agent_sees_a_reply_no_rule_answered(live_server, login_page, shop, lang):
    site, customer = shop["site"], shop["customer"]
    sent = message_send(
        site=site,
        kind="reminder_day_before",
        context={"start": "12-06 09:00", "plate": "沪A12345"},
        customer=customer,
        channel="sms",
    )
    InboundMessage.objects.create(
        site=site,
        customer=customer,
        channel="sms",
        provider="recording",
        sender=customer.phone,
        text="明天能不能改到下午？",
        reply_to=sent,
    )
    page = login_page("amy", lang=lang, viewport=SCREEN)
    page.goto(f"{live_server.url}/messaging/replies/")
    expect(page.locator("table")).to_contain_text("明天能不能改到下午？")
    screenshot(page, f"messaging-replies-{lang}")
    page.click("table button")
    expect(page.locator("table")).not_to_contain_text("明天能不能改到下午？")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_desk_shows_what_the_customer_was_sent_and_whether_it_arrived(
    live_server, login_page, shop, lang
):
    from django.utils import timezone

    from followups import services as followups
    from followups.tests.factories import delivered_ro
    from outreach import services as outreach

    site, customer = shop["site"], shop["customer"]
    ro = delivered_ro(site=site, at=timezone.now(), vehicle=shop["ro"].vehicle)
    task = followups.followup_schedule_for_delivery(repair_order=ro)
    outreach.outreach_sweep(now=task.due_at)
    outreach.task_dispatch(task_id=task.pk, now=task.due_at)
    ready = message_send(
        site=site, kind="car_ready", context={"plate": "沪A12345"}, customer=customer, channel="sms"
    )
    message_deliver(message_id=ready.pk)
    status_report_apply(
        provider=ready.provider,
        report=StatusReport(
            key=str(ready.key), status="failed", error_code="MK:0001", error="号码停机"
        ),
    )
    page = login_page("amy", lang=lang, viewport=SCREEN)
    page.goto(f"{live_server.url}/followups/?task={task.pk}")
    expect(page.locator("#customer-messages")).to_contain_text("号码停机")
    expect(page.locator("#customer-messages .badge.bad")).to_have_count(1)
    screenshot(page, f"messaging-desk-{lang}")
