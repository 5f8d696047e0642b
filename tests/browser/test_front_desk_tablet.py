"""The front desk, search, signing and confirmations in a real browser on a tablet (1024×768):
one form for a new customer and car, lookup tolerant of a Chinese keyboard's full-width
characters, the top bar's search, the RO's steps in the flow's order, and a confirmation
before each irreversible move."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.tests.factories import VehicleFactory, make_vin
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from tests.conftest import screenshot
from workorders import services as ro_services
from workorders.models import Approval, RepairOrder, ROStatus
from workorders.tests.factories import ro_in_state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TABLET = {"width": 1024, "height": 768}


def _open_day(site, offset=2):
    day = timezone.localtime(timezone.now(), site.tzinfo).date() + timedelta(days=offset)
    while day.weekday() == 6:  # test sites are closed on Sundays
        day += timedelta(days=1)
    return day


def _staff(site):
    return {
        "advisor": make_staff(
            role=Role.ADVISOR, site=site, username="desk", first_name="娜", last_name="李"
        ),
        "tech": make_staff(role=Role.TECHNICIAN, site=site, username="tech"),
        "qc": make_staff(role=Role.QC_INSPECTOR, site=site, username="qc"),
    }


def test_a_new_customer_and_car_in_one_form_then_booked(live_server, login_page):
    # given the front desk on a tablet
    site = SiteFactory()
    _staff(site)
    page = login_page("desk", viewport=TABLET)
    page.goto(f"{live_server.url}/appointments/")
    # the lookup and the booking panel are on the first screen, the day boards below
    lookup = page.locator("#lookup-q").bounding_box()
    assert lookup["y"] + lookup["height"] < TABLET["height"]
    assert page.locator("#panel").bounding_box()["y"] < TABLET["height"]
    assert page.locator("details.boardwrap").first.bounding_box()["y"] > lookup["y"]
    # when a plate typed in full width finds nobody, the one form opens with the plate in it
    page.fill("#lookup-q", "沪Ｑ５０３２Ｅ")
    page.click("#new-customer-from-lookup")
    form = page.locator("#new-customer")
    expect(form.locator("input[name=plate]")).to_have_value("沪Q5032E")
    expect(form.locator(".req")).to_have_count(3)  # name, phone, VIN marked required
    # a missing phone is refused by the browser next to the field; then the advisor fills it
    form.locator("input[name=name]").fill("赵敏")
    form.locator("input[name=vin]").fill(make_vin(5032))
    page.click("#new-customer-save")
    assert form.locator("input[name=phone]:invalid").count() == 1
    form.locator("input[name=phone]").fill("139 1234 5032")
    screenshot(page, "front-desk-new-customer-en")
    page.click("#new-customer-save")
    # then both are saved and the booking panel opens for the new car
    booking = page.locator("#booking")
    expect(booking.locator(".msg-success")).to_contain_text("Customer 赵敏 and car 沪Q5032E")
    day = _open_day(site)
    page.wait_for_load_state("networkidle")  # the panel's own follow-up requests are done
    date_input = booking.locator("input[type=date]")
    date_input.fill(str(day))
    date_input.dispatch_event("change")
    page.wait_for_selector(f"#booking input[type=date][value='{day}']")
    page.locator(f"#booking input[name=slot][value^='{day}T09:15']").first.check()
    page.locator("#booking button.primary", has_text="Book").click()
    expect(page.locator("#booking .confirmation")).to_contain_text("沪Q5032E")
    expect(page.locator("#booking h2")).to_contain_text("沪Q5032E booked")
    screenshot(page, "front-desk-booked-en")
    # and the plate in full width, or the phone's last 4 digits, now find the car
    page.fill("#lookup-q", "")
    page.fill("#lookup-q", "沪Ｑ５０３２Ｅ")
    expect(page.locator("#lookup-results")).to_contain_text("赵敏")
    page.fill("#lookup-q", "５０３２")
    expect(page.locator("#lookup-results")).to_contain_text("赵敏")


def test_the_top_bar_search_finds_any_record_on_every_page(live_server, login_page):
    # given a delivered RO
    site = SiteFactory()
    staff = _staff(site)
    ro = ro_in_state(ROStatus.DELIVERED, vehicle=VehicleFactory(owner__site=site), staff=staff)
    page = login_page("desk", viewport=TABLET)
    page.goto(f"{live_server.url}/workshop/board/")
    # the menu fits one row at 1024 px, the search box included: what does not fit is in "More"
    bar = page.locator("header.topbar").bounding_box()
    assert bar["height"] < 60, bar
    nav = page.locator(".mainnav").bounding_box()
    for link in page.locator(".mainnav > a").all():
        box = link.bounding_box()
        assert box["x"] + box["width"] <= nav["x"] + nav["width"] + 1, link.inner_text()
    assert page.locator(".mainnav > a").count() + page.locator(".navmore a").count() >= 7
    # when the plate is searched from the top bar
    page.fill("#top-q", ro.vehicle.plate)
    page.press("#top-q", "Enter")
    # then the customer, the car and the RO with its state are listed
    expect(page.locator("#search-customers")).to_contain_text(ro.customer.name)
    row = page.locator("#search-ros tr", has_text=ro.number)
    expect(row).to_contain_text("Delivered")
    screenshot(page, "search-en")
    # and its RO number goes straight to the RO
    page.fill("#top-q", ro.number.lower())
    page.press("#top-q", "Enter")
    expect(page.locator("#ro-status")).to_have_text("Delivered")
    assert page.url.endswith(f"/ro/{ro.pk}/")


def test_the_ro_steps_follow_the_flow_and_a_refused_signature_is_kept(live_server, login_page):
    site = SiteFactory()
    staff = _staff(site)
    advisor = staff["advisor"]
    empty = ro_services.repair_order_open(
        site=site,
        customer=(v := VehicleFactory(owner__site=site)).owner,
        vehicle=v,
        advisor=advisor,
        actor=advisor,
    )
    page = login_page("desk", viewport=TABLET)
    # given a new RO: the next step is the walk-around, and there is nothing to sign
    page.goto(f"{live_server.url}/ro/{empty.pk}/")
    expect(page.locator("#next-step")).to_have_text("Walk-around (intake)")
    page.goto(f"{live_server.url}/ro/{empty.pk}/authorize/")
    expect(page.locator("#not-ready-to-sign")).to_be_visible()
    expect(page.locator("#pad")).to_have_count(0)
    # given an RO with its walk-around and estimate: the next step is the signature
    ro = ro_in_state(ROStatus.DRAFT, vehicle=VehicleFactory(owner__site=site), staff=staff)
    page.goto(f"{live_server.url}/ro/{ro.pk}/")
    expect(page.locator("#next-step")).to_have_text("Customer authorization (sign)")
    page.click("#next-step")
    # when the customer signs but the advisor typed a promised time that is refused
    page.fill("#id_promised_at", "2099-01-01T17:00")
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 120)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(box["x"] + 30 + i * 40, box["y"] + 120 + (30 if i % 2 else -30))
    page.mouse.up()
    page.click("#auth-submit")
    # then the authorization is refused, and the signature is still there
    expect(page.locator(".field-error").first).to_contain_text("promised time")
    expect(page.locator("#signature-kept")).to_be_visible()
    assert page.locator("#id_signature").input_value().startswith("data:image/png")
    # and once the time is right, the same signature authorizes the RO
    tomorrow = timezone.localtime(timezone.now(), site.tzinfo) + timedelta(days=1)
    page.fill("#id_promised_at", tomorrow.strftime("%Y-%m-%dT17:00"))
    page.click("#auth-submit")
    expect(page.locator("#ro-status")).to_have_text("Authorized")
    data = Approval.objects.get(repair_order=ro).signature.read()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 500  # a drawn stroke, not an empty canvas


def test_irreversible_moves_ask_first(live_server, login_page):
    site = SiteFactory()
    staff = _staff(site)
    ro = ro_in_state(ROStatus.WORK_DONE, vehicle=VehicleFactory(owner__site=site), staff=staff)
    draft = ro_in_state(ROStatus.DRAFT, vehicle=VehicleFactory(owner__site=site), staff=staff)
    # given the QC inspector on the QC page
    page = login_page("qc", viewport=TABLET)
    page.goto(f"{live_server.url}/workshop/qc/")
    card = page.locator(f"#qc-{ro.pk}")
    card.locator("textarea[name=reason]").fill("Brake pedal soft")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    # when failing the car is asked and declined, nothing happens
    page.once("dialog", lambda d: answer(d, accept=False))
    card.locator("button[value=fail]").click()
    assert ro.number in questions[-1]
    page.wait_for_timeout(300)  # a request would have been sent at once; none is
    assert RepairOrder.objects.get(pk=ro.pk).status in (ROStatus.WORK_DONE, ROStatus.QC)
    # when it is confirmed, the car goes back to rework and the page says so
    page.once("dialog", lambda d: answer(d, accept=True))
    card.locator("button[value=fail]").click()
    expect(page.locator("#qc-done")).to_contain_text("failed the quality check")
    assert RepairOrder.objects.get(pk=ro.pk).status == ROStatus.REWORK
    # given the advisor cancelling a draft RO: declining the question keeps it
    desk = login_page("desk", viewport=TABLET)
    desk.goto(f"{live_server.url}/ro/{draft.pk}/")
    desk.click("summary:has-text('Cancel RO')")
    desk.fill("input[name=reason]", "Customer changed plans")
    desk.once("dialog", lambda d: answer(d, accept=False))
    desk.click("button.danger:has-text('Cancel RO')")
    assert draft.number in questions[-1]
    expect(desk.locator("#ro-status")).to_have_text("Draft")
    desk.once("dialog", lambda d: answer(d, accept=True))
    desk.click("button.danger:has-text('Cancel RO')")
    expect(desk.locator("#ro-status")).to_have_text("Cancelled")
