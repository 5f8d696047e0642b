"""The front desk in a real browser: find the car, pick a slot, book, see it on the day board."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from appointments.models import Appointment

from .conftest import TZ

# Playwright's sync API runs an event loop in this thread; the ORM calls here are still plain
# synchronous test code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, advisor):
    advisor.set_password("pw-test-123")
    advisor.save()
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 1000})
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", advisor.username)
    page.fill("input[name=password]", "pw-test-123")
    page.click("button.primary")
    page.wait_for_load_state("networkidle")
    yield page
    context.close()


def test_book_from_the_lookup_box(page, live_server, vehicle, advisor):
    day = timezone.localdate(timezone.now(), TZ) + timedelta(days=2)
    while day.weekday() == 6:  # the test site is closed on Sundays
        day += timedelta(days=1)
    page.goto(f"{live_server.url}/appointments/?date={day - timedelta(days=1)}")
    # find the car by its plate
    page.fill("#lookup-q", "沪A12345")
    page.locator("#lookup-results button.primary", has_text="Book").click()
    # move the panel to the wanted day and pick the 09:15 slot
    date_input = page.locator("#booking input[type=date]")
    date_input.fill(str(day))
    date_input.dispatch_event("change")
    page.wait_for_selector(f"#booking input[type=date][value='{day}']")
    page.locator("#booking input[name=slot][value^='" + f"{day}T09:15" + "']").first.check()
    page.fill("#booking input[name=estimated_hours]", "1.5")
    page.locator("#booking button.primary", has_text="Book").click()
    # the confirmation names the advisor, and tomorrow's board shows the car
    confirmation = page.locator("#booking .confirmation")
    confirmation.wait_for()
    assert "Your service advisor 李娜 will receive you" in confirmation.inner_text()
    board = page.locator(f"#board-{day:%Y%m%d}")
    board.locator(".plate", has_text="沪A12345").wait_for()
    assert Appointment.objects.get().estimated_hours == 1.5
