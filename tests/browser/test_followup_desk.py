"""The follow-up desk in a real browser: pick a call, follow the script, record the outcome."""

import pytest
from playwright.sync_api import expect

from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from followups import services
from followups.models import Complaint
from followups.tests.factories import delivered_ro, local
from outreach import services as outreach
from outreach.models import CallTask, TaskStatus
from tests.conftest import screenshot
from workorders.models import repair_order_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NOW = local(2026, 11, 20, 10, 0)


@pytest.fixture
def desk():
    site = SiteFactory()
    agent = make_staff(
        role=Role.FOLLOWUP_AGENT, site=site, username="amy", first_name="静", last_name="杨"
    )
    tasks = []
    for name in ("王建国", "李秀英"):
        ro = delivered_ro(site=site, at=local(2026, 11, 18, 15, 0))
        ro.customer.name = name
        ro.customer.save()
        tasks.append(services.followup_schedule_for_delivery(repair_order=ro))
    outreach.outreach_sweep(now=NOW)
    for task in tasks:
        outreach.task_dispatch(task_id=task.pk, now=NOW)
    return {"agent": agent, "tasks": [CallTask.objects.get(pk=t.pk) for t in tasks]}


def test_agent_picks_a_call_and_records_a_dissatisfied_answer(live_server, login_page, desk):
    second = desk["tasks"][1]
    page = login_page("amy")
    page.goto(f"{live_server.url}/followups/")
    # the queue lists both calls; the first is open in the panel with the open-question script
    expect(page.locator("#queue li")).to_have_count(2)
    expect(page.locator("#call-panel")).to_contain_text("How has the car been since your visit")
    # when the agent picks the second call, the panel changes without a page load
    page.click(f'#queue a[data-task="{second.pk}"]')
    expect(page.locator("#call-panel h2")).to_contain_text("李秀英")
    expect(page.locator("#call-panel")).to_contain_text(repair_order_of(second).number)
    screenshot(page, "followup_desk")
    # and records: reached, 2 of 5, in the customer's words
    page.check("input[name=outcome][value=reached]")
    page.select_option("select[name=satisfaction]", "2")
    page.fill("textarea[name=comments]", "交车晚了两个小时，没人通知我")
    page.click("#outcome-form button.primary")
    # then the desk reloads with a confirmation and one call left
    expect(page.locator(".messages")).to_contain_text("Outcome recorded for 李秀英")
    expect(page.locator("#queue li")).to_have_count(1)
    second.refresh_from_db()
    assert second.status == TaskStatus.DONE
    assert second.satisfaction == 2
    # the low score opened a complaint in the customer's words
    complaint = Complaint.objects.get()
    assert complaint.description == "交车晚了两个小时，没人通知我"
    assert complaint.repair_order == repair_order_of(second)


def test_a_bad_outcome_shows_the_reason_in_the_panel(live_server, login_page, desk):
    page = login_page("amy")
    page.goto(f"{live_server.url}/followups/")
    # ticking "technical problem" without describing it is refused with the field message
    page.check("input[name=outcome][value=reached]")
    page.check("input[name=technical_problem]")
    page.click("#outcome-form button.primary")
    expect(page.locator("#call-panel .field-error")).to_contain_text("Required when a technical")
    assert CallTask.objects.get(pk=desk["tasks"][0].pk).status == TaskStatus.OPEN
