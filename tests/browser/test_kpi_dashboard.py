"""The manager's KPI dashboard in a real browser: period change, charts, drill-down."""

import pytest
from playwright.sync_api import expect

from dms.models import Role
from dms.tests.factories import make_staff
from kpis.tests import scenario
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_changes_the_period_and_follows_a_drill_down(live_server, login_page):
    world = scenario.build()
    site = world["site"]
    make_staff(role=Role.MANAGER, site=site, username="boss")
    page = login_page("boss")

    # given the dashboard for this month (nothing happened in 2026-03's successor months here)
    page.goto(f"{live_server.url}/dashboard/?site={site.pk}&preset=this_month")
    expect(page.locator("[data-preset=this_month]")).to_have_attribute("aria-current", "true")

    # when the manager picks the hand-computed week as a custom period
    page.fill("input[name=start]", "2026-03-02")
    page.fill("input[name=end]", "2026-03-08")
    page.click(".kpi-filter button[type=submit]")

    # then the tiles show that week's figures, with targets, and the charts are drawn
    expect(page.get_by_test_id("period")).to_have_text("2026-03-02 – 2026-03-08")
    expect(page.locator("#kpi-ro_opened .value")).to_have_text("5")
    expect(page.locator("#kpi-followup_rate .value")).to_have_text("50.0 %")
    expect(page.locator("#kpi-followup_rate .badge.ok")).to_contain_text("30.0 %")
    expect(page.locator("#kpi-satisfaction_rate .badge.bad")).to_contain_text("98.0 %")
    assert page.evaluate("Chart.getChart('chart-cars').data.datasets[0].data") == [
        2,
        0,
        1,
        0,
        0,
        1,
        1,
    ]
    # the definition is on the tile for hovering
    assert "2–5-day window" in page.locator("#kpi-followup_rate").get_attribute("title")
    screenshot(page, "kpi-dashboard")

    # when the manager follows the on-time figure to the records behind it
    page.click("#kpi-on_time_delivery_rate .value a")
    expect(page.get_by_test_id("record-count")).to_contain_text("4 records")
    expect(page.locator("#records")).to_contain_text(world["r3"].number)
    # and keeps only the ROs delivered on time
    page.get_by_role("link", name="On time", exact=True).click()
    expect(page.get_by_test_id("record-count")).to_contain_text("2 records")
    expect(page.locator("#records")).not_to_contain_text(world["r3"].number)
    screenshot(page, "kpi-drill-down")

    # and back on the dashboard, a preset changes the period
    page.click("text=← Dashboard")
    page.click("[data-preset=last_month]")
    expect(page.locator("[data-preset=last_month]")).to_have_attribute("aria-current", "true")
