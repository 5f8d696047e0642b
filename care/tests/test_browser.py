"""In a real browser: an agent opens the due-this-month list and books a reminder in one step."""

import os
from datetime import datetime, time, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from appointments.models import Appointment
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.tests.factories import SiteFactory, make_staff
from outreach.models import CallTask, TaskKind, TaskStatus

# Playwright's sync API runs an event loop in this thread; the ORM calls here are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="en-US")
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
    connections.close_all()


def test_agent_books_a_due_customer_from_the_list(page, live_server):
    site = SiteFactory()
    make_staff(role="advisor", site=site, username="desk-advisor")
    make_staff(role="followup_agent", site=site, username="desk-agent")
    today = timezone.localdate()
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site, name="钱多多"),
        plate="沪AB1234",
        next_service_due_date=today.replace(day=28) if today.day < 28 else today,
    )
    now = timezone.now()
    CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="browser",
        customer=vehicle.owner,
        vehicle=vehicle,
        due_at=now,
        due_until=now + timedelta(days=3),
        status=TaskStatus.OPEN,
    )
    slot = today + timedelta(days=14)
    slot -= timedelta(days=slot.weekday())  # a Monday, open 08:30–17:30

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "desk-agent")
    page.fill("input[name=password]", "pw-test-123")
    page.click("button.primary")
    page.goto(f"{live_server.url}/care/")
    row = page.locator("tr", has_text="沪AB1234")
    assert "Not yet" in row.inner_text()
    row.locator("input[name=start]").fill(f"{slot:%Y-%m-%d}T08:30")
    row.locator("button", has_text="Book").click()
    page.wait_for_load_state()

    assert "Booked 沪AB1234" in page.locator(".messages").inner_text()
    assert "Booked / came" in page.locator("tr", has_text="沪AB1234").inner_text()
    appointment = Appointment.objects.get()
    assert appointment.source == "proactive"
    assert appointment.start == datetime.combine(slot, time(8, 30), tzinfo=site.tzinfo)
