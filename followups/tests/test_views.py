"""The desk and complaint pages: what an agent sees and what the server refuses."""

import pytest
from django.urls import reverse

from dms.models import Role, StaffRole
from dms.tests.factories import SiteFactory
from followups import services
from followups.models import Complaint
from outreach import services as outreach
from outreach.models import CallTask, TaskStatus
from workorders.models import repair_order_of
from workorders.tests.factories import call_task_create

from .factories import agent, delivered_ro, local

pytestmark = pytest.mark.django_db
NOW = local(2026, 11, 20, 10, 0)


@pytest.fixture
def open_task(site):
    agent(site, "amy")
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
    ro.concern = "Brake noise"
    ro.save()
    task = services.followup_schedule_for_delivery(repair_order=ro)
    outreach.outreach_sweep(now=NOW)
    outreach.task_dispatch(task_id=task.pk, now=NOW)
    return CallTask.objects.get(pk=task.pk)


def test_desk_shows_my_call_with_summary_and_open_question_script(client, open_task):
    client.force_login(open_task.assignee)
    response = client.get(reverse("followups:desk"))
    assert response.status_code == 200
    html = response.content.decode()
    assert open_task.customer.name in html
    assert repair_order_of(open_task).number in html
    assert "How has the car been since your visit on 2026-11-18?" in html
    assert 'name="satisfaction"' in html


def test_the_desk_reads_the_site_once_with_the_user(client, open_task, site):
    """The call script names the site: the desk uses the request's site row, read with the
    user at sign-in, and reads no other."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(open_task.assignee)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("followups:desk")).content.decode()
    assert f"this is {site.name} customer service" in html
    assert not [q for q in queries.captured_queries if q["sql"].startswith('SELECT "dms_site"')]


def test_desk_script_in_chinese(client, open_task):
    client.force_login(open_task.assignee)
    client.cookies["django_language"] = "zh-hans"
    html = client.get(reverse("followups:desk"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "2026-11-18" in html
    assert "How has the car been" not in html


def test_desk_needs_a_desk_role(client, make_user):
    client.force_login(make_user(Role.PARTS_CLERK))
    assert client.get(reverse("followups:desk")).status_code == 403


def test_record_outcome_from_the_page(client, open_task):
    client.force_login(open_task.assignee)
    response = client.post(
        reverse("followups:outcome", args=[open_task.pk]),
        {"outcome": "reached", "satisfaction": "5", "comments": "All good"},
    )
    assert response.status_code == 302
    open_task.refresh_from_db()
    assert open_task.status == TaskStatus.DONE
    # the call has left the desk
    assert "All good" not in client.get(reverse("followups:desk")).content.decode()


def test_page_refuses_the_ros_advisor_with_the_reason(client, open_task):
    advisor = repair_order_of(open_task).advisor
    StaffRole.objects.create(user=advisor, site=open_task.site, role=Role.FOLLOWUP_AGENT)
    client.force_login(advisor)
    page = client.get(f"{reverse('followups:desk')}?task={open_task.pk}").content.decode()
    assert "You were the service advisor on this visit" in page
    assert 'id="outcome-form"' not in page
    response = client.post(
        reverse("followups:outcome", args=[open_task.pk]),
        {"outcome": "reached", "satisfaction": "5"},
    )
    assert response.status_code == 403
    assert "service advisor on this visit" in response.content.decode()
    open_task.refresh_from_db()
    assert open_task.status == TaskStatus.OPEN


def test_bad_score_shows_the_field_error(client, open_task):
    client.force_login(open_task.assignee)
    response = client.post(
        reverse("followups:outcome", args=[open_task.pk]),
        {"outcome": "reached", "satisfaction": "9"},
    )
    assert response.status_code == 400
    assert "field-error" in response.content.decode()


def test_other_sites_task_is_404(client, open_task):
    client.force_login(agent(SiteFactory(), "other"))
    assert client.get(reverse("followups:task", args=[open_task.pk])).status_code == 404


def test_low_score_complaint_appears_on_the_complaints_page(client, open_task, make_user):
    client.force_login(open_task.assignee)
    client.post(
        reverse("followups:outcome", args=[open_task.pk]),
        {"outcome": "reached", "satisfaction": "1", "comments": "Car pulls to the left"},
    )
    complaint = Complaint.objects.get()
    manager = make_user(Role.MANAGER)
    client.force_login(manager)
    html = client.get(reverse("followups:complaints")).content.decode()
    assert open_task.customer.name in html
    detail = client.get(reverse("followups:complaint", args=[complaint.pk])).content.decode()
    assert "Car pulls to the left" in detail
    # the manager takes it and records contact through the page
    client.post(
        reverse("followups:complaint_step", args=[complaint.pk, "assign"]), {"handler": manager.pk}
    )
    client.post(
        reverse("followups:complaint_step", args=[complaint.pk, "contact"]), {"note": "Rang back"}
    )
    complaint.refresh_from_db()
    assert complaint.status == "contacted"
    assert complaint.handler == manager


def test_open_complaint_from_a_letter(client, open_task):
    client.force_login(open_task.assignee)
    response = client.post(
        reverse("followups:complaint_new"),
        {
            "channel": "letter",
            "customer": open_task.customer_id,
            "repair_order": repair_order_of(open_task).pk,
            "description": "Written complaint about the invoice",
        },
    )
    assert response.status_code == 302
    assert Complaint.objects.get().channel == "letter"


def test_desk_filters_by_kind_and_offers_the_next_call(client, site, open_task):
    # given the agent's follow-up call and a technician call-back on the desk
    callback = call_task_create(
        site=site,
        kind="tech_callback",
        status=TaskStatus.OPEN,
        customer=open_task.customer,
        vehicle=open_task.vehicle,
        repair_order=repair_order_of(open_task),
        assignee=open_task.assignee,
        due_at=open_task.due_at,
        due_until=open_task.due_until,
        source_key=f"test-callback-{open_task.pk}",
    )
    client.force_login(open_task.assignee)
    # when the desk opens: both kinds are offered as filters, and a "next call"
    html = client.get(reverse("followups:desk")).content.decode()
    assert 'data-kind="followup"' in html
    assert 'data-kind="tech_callback"' in html
    assert 'id="next-call"' in html
    # when narrowed to call-backs: only that call is listed, and there is no next one
    html = client.get(reverse("followups:desk"), {"kind": "tech_callback"}).content.decode()
    assert f'data-task="{callback.pk}"' in html
    assert f'data-task="{open_task.pk}"' not in html
    assert 'id="next-call"' not in html
