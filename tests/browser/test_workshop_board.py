"""The wall board in two real browsers: the dispatcher assigns, the wall shows it by itself."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from tests.conftest import screenshot
from workorders.models import ROStatus
from workorders.tests.factories import JobLineFactory, RepairOrderFactory
from workshop.models import Bay

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workshop():
    site = SiteFactory()
    Bay.objects.create(site=site, code="B2")
    staff = {
        "dispatcher": make_staff(role=Role.DISPATCHER, site=site, username="disp"),
        "wall": make_staff(role=Role.DISPATCHER, site=site, username="wall"),
        "tech": make_staff(
            role=Role.TECHNICIAN, site=site, username="tech1", first_name="伟", last_name="张"
        ),
    }
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), plate="沪A12345")
    ro = RepairOrderFactory(
        vehicle=vehicle,
        status=ROStatus.AUTHORIZED,
        promised_at=timezone.now() + timedelta(hours=1),
    )
    job = JobLineFactory(
        repair_order=ro, description="Replace front brake pads", standard_hours=Decimal("2.0")
    )
    return {"site": site, "job": job, **staff}


def test_dispatcher_assigns_and_the_wall_board_updates_without_reload(
    live_server, login_page, workshop
):
    job, tech = workshop["job"], workshop["tech"]
    job_row = f'.job[data-job-id="{job.pk}"]'

    # given the wall board open in one browser, showing the job unassigned and at risk
    wall = login_page("wall")
    wall.goto(f"{live_server.url}/workshop/board/?wall=1")
    expect(wall.locator(job_row)).to_contain_text("unassigned")
    expect(wall.locator(".ro-card.at-risk")).to_contain_text("沪A12345")
    wall.evaluate("window.__sameDocument = true")

    # when the dispatcher, in another browser, selects the job, a bay and the technician
    desk = login_page("disp")
    desk.goto(f"{live_server.url}/workshop/board/")
    desk.click(job_row)
    expect(desk.locator(job_row)).to_have_attribute("aria-pressed", "true")
    desk.select_option("#assign-bay", "B2")
    desk.click(f'.tech-chip[data-tech-id="{tech.pk}"]')

    # then the dispatcher's board shows the assignment
    expect(desk.locator(f"{job_row} .tech")).to_have_text("张伟")
    expect(desk.locator(f"{job_row} .bay")).to_have_text("B2")
    screenshot(desk, "workshop-board")

    # and the wall board shows it on its own, in the same document (no reload)
    expect(wall.locator(f"{job_row} .tech")).to_have_text("张伟", timeout=20000)
    expect(wall.locator(f"{job_row} .bay")).to_have_text("B2")
    assert wall.evaluate("window.__sameDocument") is True
    job.refresh_from_db()
    assert job.technician == tech


def test_technician_clock_on_is_refused_with_the_reason_on_the_tablet(
    live_server, login_page, workshop
):
    job, tech = workshop["job"], workshop["tech"]
    job.technician = tech
    job.approval = "proposed"
    job.save()
    tablet = login_page("tech1", viewport={"width": 1024, "height": 768})
    tablet.goto(f"{live_server.url}/workshop/technician/")
    card = tablet.locator(f"#job-{job.pk}")
    expect(card.locator(".refusal")).to_contain_text("waiting for the customer's approval")
    expect(card.get_by_role("button", name="Clock on")).to_be_disabled()


def test_the_tablets_clocked_on_message_runs_across_the_jobs(live_server, login_page, workshop):
    """The message about the last action sits above the cards, across the grid, not in a cell
    of its own beside the first card (1024 x 768, two cards a row)."""
    job, tech = workshop["job"], workshop["tech"]
    job.technician = tech
    job.save()
    JobLineFactory(
        repair_order=job.repair_order,
        description="Rotate the tyres",
        technician=tech,
        standard_hours=Decimal("0.5"),
    )
    tablet = login_page("tech1", viewport={"width": 1024, "height": 768})
    tablet.goto(f"{live_server.url}/workshop/technician/")
    tablet.locator(f"#job-{job.pk}").get_by_role("button", name="Clock on").click()
    message = tablet.locator("#job-done")
    expect(message).to_contain_text("Clocked on")
    expect(tablet.locator(f"#job-{job.pk} .status")).to_have_text("Clocked on")
    grid = tablet.locator("#my-jobs").bounding_box()
    said = message.bounding_box()
    cards = [card.bounding_box() for card in tablet.locator("#my-jobs > article").all()]
    assert len(cards) == 2
    assert abs(said["width"] - grid["width"]) < 2
    assert all(card["y"] >= said["y"] + said["height"] for card in cards)
    assert abs(cards[0]["x"] - grid["x"]) < 2
    assert cards[0]["y"] == cards[1]["y"]
    screenshot(tablet, "technician-clocked-on")


def test_the_wall_boards_unchanged_polls_are_304s_and_a_change_still_shows(
    live_server, login_page, workshop, settings, monkeypatch
):
    """Chromium revalidates the htmx poll with the board's ETag by itself (dms.live); the
    browser hands the page its cached copy as a 200, so the server's 304s are counted where
    they are made."""
    from django.core.cache import cache
    from django.http import HttpResponse

    from dms import live

    settings.DMS_LIVE_ETAGS = True  # the live server runs in this process: one local cache
    cache.clear()
    answered = []

    class Counted(HttpResponse):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            answered.append(self.status_code)

    monkeypatch.setattr(live, "HttpResponse", Counted)
    job, tech = workshop["job"], workshop["tech"]
    polls = []
    wall = login_page("wall")
    wall.on(
        "response",
        lambda r: (
            polls.append((r.status, r.request.all_headers().get("if-none-match")))
            if "/workshop/board/" in r.url and r.request.headers.get("hx-request")
            else None
        ),
    )
    wall.goto(f"{live_server.url}/workshop/board/?wall=1")
    # given the board polled a few times with nothing changed
    wall.wait_for_timeout(16000)
    assert len(polls) >= 2, polls
    assert all(tag for _status, tag in polls[1:]), polls  # sent by the browser, not htmx
    assert answered.count(304) >= len(polls) - 2, (answered, polls)
    # when the dispatcher assigns the job, the wall still shows it on its own
    desk = login_page("disp")
    desk.goto(f"{live_server.url}/workshop/board/")
    desk.click(f'.job[data-job-id="{job.pk}"]')
    desk.click(f'.tech-chip[data-tech-id="{tech.pk}"]')
    expect(wall.locator(f'.job[data-job-id="{job.pk}"] .tech')).to_have_text("张伟", timeout=20000)
