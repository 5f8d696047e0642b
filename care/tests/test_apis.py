"""The reminder-rules API (service manager) and the one-step booking API."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from appointments.models import Appointment, appointment_of
from care.models import ReminderRule, RuleKind
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.audit import history
from dms.tests.factories import SiteFactory
from outreach.models import CallTask, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
URL = "/api/v1/reminder-rules/"


def test_manager_lists_one_rule_per_kind(site, api_as):
    response = api_as("manager").get(URL)
    assert response.status_code == 200
    assert sorted(r["kind"] for r in response.json()) == sorted(RuleKind.values)
    first = response.json()[0]
    assert {"enabled", "lead_days", "channel", "message_zh", "message_en"} <= set(first)


@pytest.mark.parametrize("role", ["advisor", "followup_agent", "technician"])
def test_other_roles_may_not_see_the_rules(site, api_as, role):
    response = api_as(role).get(URL)
    assert response.status_code == 403
    assert "message" in response.json()


def test_manager_changes_a_rule_and_it_is_audited(site, api_as, make_user):
    manager = make_user("manager")
    client = api_as(user=manager)
    rule_id = next(r["id"] for r in client.get(URL).json() if r["kind"] == "insurance_renewal")
    response = client.patch(
        f"{URL}{rule_id}/",
        {"lead_days": 45, "channel": "email", "message_en": "Hi {customer}, {plate} on {due_date}"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["lead_days"] == 45
    rule = ReminderRule.objects.get(pk=rule_id)
    assert rule.channel == "email"
    assert history(rule).last().data["lead_days"] == {"from": "30", "to": "45"}


def test_bad_rule_input_is_a_400_with_field_messages(site, api_as):
    client = api_as("manager")
    rule_id = client.get(URL).json()[0]["id"]
    response = client.patch(
        f"{URL}{rule_id}/",
        {"lead_days": -3, "channel": "fax", "message_zh": "您好 {name}"},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert {"lead_days", "channel", "message_zh"} <= set(fields)
    assert "{name}" in fields["message_zh"][0]
    assert ReminderRule.objects.get(pk=rule_id).lead_days != -3


def test_another_sites_rule_is_404(site, api_as):
    other = SiteFactory()
    from care.services import rules_ensure

    foreign = rules_ensure(site=other)[0]
    response = api_as("manager").patch(f"{URL}{foreign.pk}/", {"enabled": False}, format="json")
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.enabled


def test_manager_runs_the_rules_now(site, api_as):
    VehicleFactory(
        owner=CustomerFactory(site=site),
        insurance_renewal_date=timezone.localdate() + timedelta(days=30),
    )
    client = api_as("manager")
    first = client.post(f"{URL}run/")
    second = client.post(f"{URL}run/")
    assert first.status_code == 200
    assert first.json()["created"] == {"insurance_renewal": 1}
    assert second.json()["created"] == {}
    assert CallTask.objects.filter(kind=TaskKind.INSURANCE_RENEWAL).count() == 1


def _open_task(site):
    vehicle = VehicleFactory(owner=CustomerFactory(site=site))
    now = timezone.now()
    return CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key=f"api:{vehicle.pk}",
        customer=vehicle.owner,
        vehicle=vehicle,
        due_at=now,
        due_until=now + timedelta(days=3),
        status=TaskStatus.OPEN,
    )


def _slot(site) -> str:
    day = timezone.localdate() + timedelta(days=14)
    day -= timedelta(days=day.weekday())
    return datetime.combine(day, time(8, 30), tzinfo=site.tzinfo).isoformat()


def test_agent_books_from_a_task(site, api_as, make_user):
    make_user("advisor")
    task = _open_task(site)
    response = api_as("followup_agent").post(
        "/api/v1/care-bookings/", {"task": task.pk, "start": _slot(site)}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["source"] == "proactive"
    task.refresh_from_db()
    assert appointment_of(task).pk == response.json()["id"]


def test_booking_errors_are_clear(site, api_as, make_user):
    make_user("advisor")
    client = api_as("followup_agent")
    assert client.post("/api/v1/care-bookings/", {}, format="json").status_code == 400
    other_task = _open_task(SiteFactory())
    response = client.post(
        "/api/v1/care-bookings/", {"task": other_task.pk, "start": _slot(site)}, format="json"
    )
    assert response.status_code == 404
    task = _open_task(site)
    client.post("/api/v1/care-bookings/", {"task": task.pk, "start": _slot(site)}, format="json")
    again = client.post(
        "/api/v1/care-bookings/", {"task": task.pk, "start": _slot(site)}, format="json"
    )
    assert again.status_code == 409
    assert Appointment.objects.count() == 1
