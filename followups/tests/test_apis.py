"""The call-task, follow-up and complaint API: status codes, payload shape, error bodies."""

import pytest

from dms.models import Role, StaffRole
from dms.tests.factories import SiteFactory
from followups import services
from followups.models import Complaint
from outreach import services as outreach
from outreach.models import CallTask, TaskStatus
from workorders.models import repair_order_of
from workorders.tests.factories import JobLineFactory

from .factories import agent, delivered_ro, local

pytestmark = pytest.mark.django_db
NOW = local(2026, 11, 20, 10, 0)


@pytest.fixture
def task(site):
    agent(site, "amy")
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
    JobLineFactory(repair_order=ro)
    task = services.followup_schedule_for_delivery(repair_order=ro)
    outreach.outreach_sweep(now=NOW)
    outreach.task_dispatch(task_id=task.pk, now=NOW)
    return CallTask.objects.get(pk=task.pk)


def test_my_queue_lists_my_open_calls(api_as, task):
    response = api_as(user=task.assignee).get("/api/v1/call-tasks/?status=open")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == task.pk
    assert row["kind"] == "followup"
    assert row["customer_name"] == task.customer.name
    assert row["repair_order_number"] == repair_order_of(task).number


def test_queue_filters_by_kind_and_rejects_a_bad_date(api_as, task):
    client = api_as(user=task.assignee)
    assert client.get("/api/v1/call-tasks/?kind=reminder_soon").json()["results"] == []
    response = client.get("/api/v1/call-tasks/?due_before=tomorrow")
    assert response.status_code == 400
    assert "due_before" in response.json()["fields"]


def test_record_outcome(api_as, task):
    response = api_as(user=task.assignee).post(
        f"/api/v1/call-tasks/{task.pk}/outcome/",
        {"outcome": "reached", "satisfaction": 4, "comments": "fine"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "done"
    assert response.json()["satisfaction"] == 4


def test_outcome_on_a_closed_task_is_409(api_as, task):
    client = api_as(user=task.assignee)
    client.post(f"/api/v1/call-tasks/{task.pk}/outcome/", {"outcome": "wrong_number"})
    response = client.post(
        f"/api/v1/call-tasks/{task.pk}/outcome/", {"outcome": "reached", "satisfaction": 5}
    )
    assert response.status_code == 409
    assert "not open" in response.json()["message"]


def test_score_outside_1_to_5_is_400_with_the_field(api_as, task):
    response = api_as(user=task.assignee).post(
        f"/api/v1/call-tasks/{task.pk}/outcome/", {"outcome": "reached", "satisfaction": 6}
    )
    assert response.status_code == 400
    assert "satisfaction" in response.json()["fields"]
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_the_ros_advisor_is_refused_with_a_reason(api_as, task):
    advisor = repair_order_of(task).advisor
    StaffRole.objects.create(user=advisor, site=task.site, role=Role.FOLLOWUP_AGENT)
    client = api_as(user=advisor)
    response = client.post(
        f"/api/v1/call-tasks/{task.pk}/outcome/", {"outcome": "reached", "satisfaction": 5}
    )
    assert response.status_code == 403
    assert "service advisor on this visit" in response.json()["message"]
    response = client.post(f"/api/v1/call-tasks/{task.pk}/assign/", {})
    assert response.status_code == 403
    assert "service advisor" in response.json()["message"]


def test_a_technician_cannot_use_the_followup_api(api_as, task):
    assert api_as(Role.TECHNICIAN).get("/api/v1/followups/").status_code == 403


def test_another_sites_task_is_404(api_as, task):
    other_site_agent = agent(SiteFactory(), "zed")
    response = api_as(user=other_site_agent).post(
        f"/api/v1/call-tasks/{task.pk}/outcome/", {"outcome": "reached"}
    )
    assert response.status_code == 404


def test_followups_list_shows_the_pool_and_mine(api_as, task):
    response = api_as(user=task.assignee).get("/api/v1/followups/")
    assert [r["id"] for r in response.json()["results"]] == [task.pk]


def test_followups_list_filters_the_pool_and_mine(api_as, task):
    # given my open follow-up and a done one from the unassigned pool
    done = delivered_ro(site=task.site, at=local(2026, 10, 1, 12, 0))
    old = services.followup_schedule_for_delivery(repair_order=done)
    CallTask.objects.filter(pk=old.pk).update(status=TaskStatus.DONE, assignee=None)
    client = api_as(user=task.assignee)
    assert sorted(r["id"] for r in client.get("/api/v1/followups/").json()["results"]) == sorted(
        [task.pk, old.pk]
    )
    # then ?status= narrows the list, as it does on /call-tasks/
    rows = client.get("/api/v1/followups/?status=done").json()["results"]
    assert [r["id"] for r in rows] == [old.pk]
    rows = client.get(f"/api/v1/followups/?status={task.status}").json()["results"]
    assert [r["id"] for r in rows] == [task.pk]
    assert client.get("/api/v1/followups/?due_before=soon").status_code == 400


def test_complaint_steps_through_the_api(api_as, make_user, site, task):
    agent_client = api_as(user=task.assignee)
    response = agent_client.post(
        "/api/v1/complaints/",
        {
            "channel": "letter",
            "customer": task.customer_id,
            "repair_order": repair_order_of(task).pk,
            "description": "Bill higher than the estimate",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "open"
    assert body["advisor"]["id"] == repair_order_of(task).advisor_id
    cid = body["id"]
    manager = api_as(Role.MANAGER)
    assert manager.post(f"/api/v1/complaints/{cid}/assign/", {}).json()["status"] == "assigned"
    assert (
        manager.post(f"/api/v1/complaints/{cid}/contact/", {"note": "Apologised"}).json()["status"]
        == "contacted"
    )
    response = manager.post(
        f"/api/v1/complaints/{cid}/decide/",
        {"decision": "not_our_fault", "cause": "price", "labour_discount": "-5"},
        format="json",
    )
    assert response.status_code == 400
    assert "labour_discount" in response.json()["fields"]
    response = manager.post(
        f"/api/v1/complaints/{cid}/decide/",
        {"decision": "not_our_fault", "cause": "price", "explanation": "Approved extra work"},
        format="json",
    )
    assert response.json()["status"] == "decided"
    response = manager.post(f"/api/v1/complaints/{cid}/resolve/", {"resolution": "Explained"})
    assert response.json()["status"] == "resolved"
    assert response.json()["confirm_task"] is not None
    # closing is the confirming call's job; a second resolve is refused with the allowed moves
    response = manager.post(f"/api/v1/complaints/{cid}/resolve/", {"resolution": "again"})
    assert response.status_code in (200, 409)
    assert Complaint.objects.get(pk=cid).status == "resolved"


def test_complaint_with_unknown_channel_is_400(api_as, task):
    response = api_as(user=task.assignee).post(
        "/api/v1/complaints/",
        {"channel": "pigeon", "customer": task.customer_id, "description": "x"},
    )
    assert response.status_code == 400
    assert "channel" in response.json()["fields"]


def test_schema_describes_the_outcome_action(api_as):
    response = api_as(Role.MANAGER).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/call-tasks/{id}/outcome/" in paths
    assert "/api/v1/complaints/{id}/decide/" in paths
