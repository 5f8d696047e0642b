"""The archive at the front desk in a real browser: one-box lookup, a new vehicle whose VIN check
digit is wrong (the warning and its checkbox appear inline), inline field errors."""

import pytest
from playwright.sync_api import expect

from customers.models import Vehicle
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk():
    site = SiteFactory()
    make_staff(role=Role.ADVISOR, site=site, username="adv", first_name="娜", last_name="李")
    owner = CustomerFactory(site=site, name="王建国", phone="+8613812345678")
    VehicleFactory(owner=owner, plate="沪AD12345", make="比亚迪", model="秦PLUS")
    return {"site": site, "owner": owner}


def test_lookup_then_add_a_vehicle_acknowledging_the_vin_warning(live_server, login_page, desk):
    page = login_page("adv")

    # given the archive, when the advisor types part of a green plate in the one box
    page.goto(f"{live_server.url}/customers/")
    page.fill("#lookup-q", "ad 1234")
    # then the customer appears without a page load, the matched plate shown green
    expect(page.locator("#lookup-results")).to_contain_text("王建国")
    expect(page.locator("#lookup-results .plate.green")).to_have_text("沪AD12345")

    # when they open the customer and add a vehicle with a mistyped VIN check digit
    page.click("#lookup-results a:has-text('王建国')")
    page.click("text=Add vehicle")
    vin = make_vin(4242)
    bad = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    page.fill("#id_vin", bad.lower())
    page.press("#id_vin", "Tab")
    # then the warning and its checkbox appear under the VIN at once
    warning = page.locator("#err-vin .vin-warning")
    expect(warning).to_contain_text("check digit")
    # and a plate in the wrong format is explained inline too
    page.fill("#id_plate", "沪A1")
    page.press("#id_plate", "Tab")
    expect(page.locator("#err-plate")).to_contain_text("A plate has 7 characters")
    page.fill("#id_plate", "沪B 54321")
    page.press("#id_plate", "Tab")
    expect(page.locator("#err-plate .field-error")).to_have_count(0)
    screenshot(page, "customers-vin-warning")

    # when they save without ticking the box, nothing is saved and the warning stays
    page.click("button.primary:has-text('Add vehicle')")
    expect(page.locator(".vin-warning")).to_be_visible()
    assert not Vehicle.objects.filter(plate="沪B54321").exists()

    # when they tick it and save, the vehicle is kept with the VIN as typed
    page.check("#id_acknowledge_vin_warning")
    page.click("button.primary:has-text('Add vehicle')")
    expect(page.locator("h1")).to_contain_text("沪B54321")
    expect(page.locator("body")).to_contain_text("check digit does not match (acknowledged)")
    vehicle = Vehicle.objects.get(plate="沪B54321")
    assert (vehicle.vin, vehicle.vin_check_digit_ok) == (bad, False)


def test_new_customer_shows_a_possible_duplicate_while_typing(live_server, login_page, desk):
    page = login_page("adv")
    page.goto(f"{live_server.url}/customers/new/")
    page.fill("#id_name", "王建国")
    page.fill("#id_phone", "138-1234-5678")
    page.press("#id_phone", "Tab")
    expect(page.locator("#duplicates")).to_contain_text("Possible duplicate")
    expect(page.locator("#duplicates")).to_contain_text("王建国")
