"""The customer's own pages on a 360 px phone, in both languages: book online with the code
from the message, follow the car from the status link sent at check-in while the staff move
the RO (no reload), approve extra work with its photo, open the settlement PDF, answer the
survey, and the agent sees the answer on the desk."""

import io
import re
from urllib.parse import urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from playwright.sync_api import expect
from pypdf import PdfReader

from appointments.models import Appointment
from dms.models import Role
from dms.tests.factories import make_staff
from messaging.models import OutboundMessage
from portal.selectors import STEPS
from portal.tests.conftest import local, make_shop, next_open_day
from tests.conftest import _wait_for, screenshot
from workorders import services as ro
from workorders.models import JobLine, ROStatus
from workorders.tests.factories import FINAL_ALL, HANDOVER_ALL, PNG_1PX, QC_ALL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
POLL = 30_000  # the status page polls every 10 s: a deadline, not a timing


def _phone(browser, live_server, lang: str):
    context = browser.new_context(
        viewport=PHONE, locale="en-US" if lang == "en" else "zh-CN", device_scale_factor=1
    )
    context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    return context, page


def _message(kind: str, **filters) -> OutboundMessage:
    return _wait_for(
        lambda: OutboundMessage.objects.filter(kind=kind, **filters).order_by("-id").first(),
        timeout=20,
        what=f"a {kind} message",
    )


def _link_in(message: OutboundMessage, live_server) -> str:
    url = re.search(r"https?://\S+", message.body).group(0)
    return live_server.url + urlparse(url).path


def _photo() -> SimpleUploadedFile:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 200), (180, 60, 40)).save(buf, format="PNG")
    return SimpleUploadedFile("finding.png", buf.getvalue(), content_type="image/png")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_book_online_with_the_code_from_the_message(live_server, browser, lang):
    shop = make_shop()
    site = shop["site"]
    day = next_open_day(site)
    start = local(site, day, 9, 0)
    context, page = _phone(browser, live_server, lang)
    try:
        page.goto(f"{live_server.url}/p/book/{site.code}/")
        with page.expect_response(lambda r: "/times/" in r.url):
            page.check("input[name=services][value=oil]")
        with page.expect_response(lambda r: f"day={day.isoformat()}" in r.url):
            page.locator("#day").fill(day.isoformat())  # fires "change": the times reload
        page.check(f"input[name=start][value='{start.isoformat()}']")
        # the buffer slot (:45) is never offered
        expect(page.locator(f"input[value='{local(site, day, 9, 45).isoformat()}']")).to_have_count(
            0
        )
        page.fill("#plate", "沪A12345")
        page.fill("#phone", "13800138000")
        screenshot(page, f"portal-book-{lang}")
        page.click("button.primary")
        expect(page.locator("#code")).to_be_visible()
        assert not Appointment.objects.exists()  # nothing held before the code

        sms = _message("one_time_code", to="+8613800138000")
        code = re.search(r"\b(\d{6})\b", sms.body).group(1)
        page.fill("#code", code)
        screenshot(page, f"portal-code-{lang}")
        page.click("button.primary")

        appointment = _wait_for(Appointment.objects.first, timeout=10, what="the booking")
        advisor = appointment.advisor.last_name + appointment.advisor.first_name
        expect(page.locator("#advisor")).to_have_text(advisor)
        expect(page.locator("#when")).to_contain_text("09:00")
        screenshot(page, f"portal-booked-{lang}")
        assert appointment.channel == "online"
        assert appointment.source == "customer"
        confirmation = _message("appointment_confirmation")
        assert advisor in confirmation.body
        assert "/p/b/" in confirmation.body
    finally:
        context.close()


def test_follow_the_car_approve_extra_work_open_the_settlement_and_answer_the_survey(
    live_server, browser, login_page
):
    shop = make_shop()
    site, vehicle = shop["site"], shop["vehicle"]
    advisor = shop["advisors"][0]
    tech = make_staff(role=Role.TECHNICIAN, site=site)
    qc = make_staff(role=Role.QC_INSPECTOR, site=site)
    make_staff(role=Role.FOLLOWUP_AGENT, site=site, username="agent-p")

    # check-in opens the RO: the customer gets the status link
    order = ro.repair_order_open(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        actor=advisor,
        concern="Oil change",
        odometer_km=vehicle.mileage_km + 5000,
    )
    status_url = _link_in(_message("status_link", customer=vehicle.owner), live_server)
    context, page = _phone(browser, live_server, "zh-hans")
    try:
        page.goto(status_url)
        current = page.locator("[aria-current=step]")
        expect(current).to_have_attribute("data-step", "checked_in")
        with translation.override("zh-hans"):
            checked_in = str(dict(STEPS)["checked_in"])
        assert checked_in != "Checked in"
        expect(current).to_have_text(checked_in)
        page.evaluate("window.__sameDocument = true")
        screenshot(page, "portal-status-checked-in-zh")

        # the staff move the RO: the page follows without a reload
        ro.intake_record(
            repair_order_id=order.pk,
            actor=advisor,
            covers_fitted=True,
            vin_read=vehicle.vin,
            odometer_km=vehicle.mileage_km + 5000,
            fuel_level="1/2",
        )
        ro.job_line_add(
            repair_order_id=order.pk,
            actor=advisor,
            description="更换机油机滤",
            standard_hours="1.0",
            parts=[{"name": "机油滤清器", "quantity": 1, "unit_price": "80.00"}],
        )
        from django.utils import timezone

        ro.ro_authorize(
            repair_order_id=order.pk,
            actor=advisor,
            channel="signature",
            signature=PNG_1PX,
            promised_at=timezone.now() + timezone.timedelta(hours=5),
        )
        ro.ro_start(repair_order_id=order.pk, actor=tech)
        expect(current).to_have_attribute("data-step", "repair", timeout=POLL)
        assert page.evaluate("window.__sameDocument") is True

        # extra work found, with a photo: answered on the same page
        ro.job_propose_additional(
            repair_order_id=order.pk,
            actor=tech,
            description="更换雨刮片",
            standard_hours="0.2",
            parts=[{"name": "雨刮片", "quantity": 2, "unit_price": "45"}],
            photos=[_photo()],
        )
        approvals = page.locator("#approvals")
        expect(approvals).to_be_visible(timeout=POLL)
        expect(approvals.locator("img")).to_be_visible()
        assert page.evaluate("window.__sameDocument") is True
        screenshot(page, "portal-status-approval-zh")
        approvals.locator("input[value=approved]").check()
        # a poll while the customer is choosing answers 304 and leaves the choice alone
        with page.expect_response(lambda r: "/live/" in r.url, timeout=POLL) as poll:
            pass
        assert poll.value.status == 304
        expect(approvals.locator("input[value=approved]")).to_be_checked()
        approvals.locator("button.primary").click()
        expect(page.locator("#approvals")).to_have_count(0)
        expect(page.locator("[aria-current=step]")).to_have_attribute("data-step", "repair")
        assert order.lines.get(description="更换雨刮片").approval == JobLine.Approval.APPROVED

        # the workshop finishes; at delivery the bill and the documents are there
        JobLine.objects.filter(repair_order=order).update(work_status=JobLine.WorkStatus.DONE)
        ro.ro_complete_work(repair_order_id=order.pk, actor=tech)
        ro.ro_qc_pass(repair_order_id=order.pk, actor=qc, checklist=QC_ALL)
        ro.ro_wash_done(repair_order_id=order.pk, actor=tech)
        ro.ro_final_check(repair_order_id=order.pk, actor=advisor, checklist=FINAL_ALL)
        ro.ro_invoice(repair_order_id=order.pk, actor=advisor)
        ro.ro_deliver(
            repair_order_id=order.pk,
            actor=advisor,
            payment_method="wechat",
            handover=HANDOVER_ALL,
        )
        settlement_link = page.locator("#documents a[data-kind=settlement]")
        expect(settlement_link).to_be_visible(timeout=POLL)
        expect(page.locator("[aria-current=step]")).to_have_count(0)
        expect(page.locator("#settlement")).to_contain_text("更换雨刮片")
        screenshot(page, "portal-status-delivered-zh")
        answer = page.request.get(live_server.url + settlement_link.get_attribute("href"))
        assert answer.headers["content-type"] == "application/pdf"
        pdf = PdfReader(io.BytesIO(answer.body()))
        text = "\n".join(p.extract_text() for p in pdf.pages)
        order.refresh_from_db()
        assert order.invoice_number in text
        assert "更换雨刮片" in text
        assert "WeChat Pay" in text or "微信支付" in text  # the site language of the run

        # the same page in English
        english, en_page = _phone(browser, live_server, "en")
        try:
            en_page.goto(status_url)
            expect(en_page.locator("#settlement")).to_contain_text("Total")
            screenshot(en_page, "portal-status-delivered-en")
        finally:
            english.close()

        # the follow-up invitation links to the survey
        page.goto(_link_in(_message("followup_survey", customer=vehicle.owner), live_server))
        page.fill("#answer", "车开起来很顺，没有异响")
        page.check("input[name=satisfaction][value='4']")
        page.fill("#comments", "等候区可以再安静一些")
        screenshot(page, "portal-survey-zh")
        page.click("button.primary")
        expect(page.locator("#thanks")).to_be_visible()
    finally:
        context.close()

    # the agent sees the answer on the desk
    desk = login_page("agent-p", lang="zh-hans")
    desk.goto(f"{live_server.url}/followups/")
    surveys = desk.locator("#surveys")
    expect(surveys).to_contain_text(vehicle.owner.name)
    expect(surveys).to_contain_text("4 / 5")
    expect(surveys).to_contain_text("车开起来很顺")
    screenshot(desk, "followup-desk-surveys")
    assert order.call_tasks.get(kind="followup").status == "done"
    assert order.status == ROStatus.DELIVERED
