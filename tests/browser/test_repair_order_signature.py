"""The repair order in real browsers: the customer signs on the tablet, and later answers the
additional work from the private link on a phone."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.tests.factories import VehicleFactory
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from tests.conftest import screenshot
from workorders.models import Approval, JobLine, RepairOrder, ROStatus
from workorders.tests.factories import ro_in_state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_signs_on_the_pad_and_the_ro_is_authorized(live_server, login_page, browser):
    site = SiteFactory()
    advisor = make_staff(
        role=Role.ADVISOR, site=site, username="adv1", first_name="娜", last_name="李"
    )
    staff = {
        "advisor": advisor,
        "tech": make_staff(role=Role.TECHNICIAN, site=site),
        "qc": make_staff(role=Role.QC_INSPECTOR, site=site),
    }
    ro = ro_in_state(ROStatus.DRAFT, vehicle=VehicleFactory(owner__site=site), staff=staff)

    # given the advisor on the authorization page of a tablet
    page = login_page("adv1", viewport={"width": 1024, "height": 768})
    page.goto(f"{live_server.url}/ro/{ro.pk}/authorize/")
    tomorrow = timezone.localtime(timezone.now(), site.tzinfo) + timedelta(days=1)
    page.fill("#id_promised_at", tomorrow.strftime("%Y-%m-%dT17:00"))
    # when the customer draws a signature and the advisor authorizes
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 120)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(box["x"] + 30 + i * 40, box["y"] + 120 + (30 if i % 2 else -30))
    page.mouse.up()
    page.click("#auth-submit")

    # then the RO is authorized, the signature is on the RO and on the printed copy
    expect(page.locator("#ro-status")).to_have_text("Authorized")
    approval = Approval.objects.get(repair_order=ro)
    data = approval.signature.read()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 500  # a drawn stroke, not an empty canvas
    page.goto(f"{live_server.url}/ro/{ro.pk}/print/")
    expect(page.locator(".sign")).to_contain_text("李娜")
    expect(page.locator(".sign img")).to_be_visible()
    screenshot(page, "ro-print")


def test_customer_answers_additional_work_from_the_private_link(live_server, login_page, browser):
    ro = ro_in_state(ROStatus.WAITING_APPROVAL)
    advisor = ro.advisor
    advisor.username = "adv2"
    advisor.save()
    page = login_page("adv2")
    page.goto(f"{live_server.url}/ro/{ro.pk}/")
    page.click("text=Make a private link")
    link = page.locator("#approval-link").input_value()
    screenshot(page, "ro-detail-waiting-approval")

    # the customer opens it on a phone, without logging in
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    try:
        mobile = phone.new_page()
        mobile.goto(link)
        expect(mobile.locator(".job h2")).to_have_text("Replace brake fluid")
        expect(mobile.locator(".job .price")).to_contain_text("CNY")
        screenshot(mobile, "ro-private-link-phone")
        mobile.check("input[value=approved]")
        mobile.click("text=Send my answer")
        expect(mobile.locator("[role=status]")).to_contain_text("your answer has been recorded")
    finally:
        phone.close()

    # the advisor sees the work resume with the approved line
    ro.refresh_from_db()
    assert ro.status == ROStatus.IN_PROGRESS
    line = JobLine.objects.get(repair_order=ro, description="Replace brake fluid")
    assert line.approval == JobLine.Approval.APPROVED
    assert RepairOrder.objects.get(pk=ro.pk).approvals.filter(channel="link").exists()
