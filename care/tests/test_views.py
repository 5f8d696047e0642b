"""The care pages: due this month (+ CSV), first-service capture, rules; roles and site scope."""

import csv
import io
from datetime import date, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from appointments.models import Appointment
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.tests.factories import SiteFactory
from outreach.models import CallTask, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, make_user):
    client.force_login(make_user("followup_agent"))
    return client


def _this_month():
    return timezone.localdate().replace(day=1)


def test_due_this_month_lists_the_due_vehicles(site, agent_client):
    month = _this_month()
    due = VehicleFactory(
        owner=CustomerFactory(site=site, name="钱多多"), next_service_due_date=month
    )
    VehicleFactory(owner=CustomerFactory(site=site), next_service_due_date=month + timedelta(40))
    VehicleFactory(  # another site's car due the same day never shows
        owner=CustomerFactory(site=SiteFactory(), name="别家客户"), next_service_due_date=month
    )
    response = agent_client.get(reverse("care:due_this_month"))
    assert response.status_code == 200
    page = response.content.decode()
    assert due.plate in page
    assert "钱多多" in page
    assert "别家客户" not in page
    assert [r.vehicle for r in response.context["rows"]] == [due]


def test_a_busy_month_is_shown_a_page_at_a_time_with_every_car_counted(
    site, agent_client, monkeypatch
):
    from care import views

    monkeypatch.setattr(views, "DUE_PAGE_SIZE", 2)
    month = _this_month()
    cars = [
        VehicleFactory(owner=CustomerFactory(site=site), next_service_due_date=month + timedelta(d))
        for d in range(5)
    ]
    first = agent_client.get(reverse("care:due_this_month"))
    assert first.context["counts"]["total"] == 5
    assert [r.vehicle for r in first.context["rows"]] == cars[:2]
    assert "1 / 3" in first.content.decode()
    last = agent_client.get(reverse("care:due_this_month"), {"page": 3})
    assert [r.vehicle for r in last.context["rows"]] == cars[4:]
    # a page past the end shows the last one, a broken number the first
    assert agent_client.get(reverse("care:due_this_month"), {"page": 9}).context["page"].number == 3
    assert (
        agent_client.get(reverse("care:due_this_month"), {"page": "x"}).context["page"].number == 1
    )


def test_a_bad_month_is_a_400_with_a_message(site, agent_client):
    response = agent_client.get(reverse("care:due_this_month"), {"month": "June"})
    assert response.status_code == 400
    assert "YYYY-MM" in response.content.decode()


def test_due_this_month_csv_streams_the_rows(site, agent_client):
    month = date(2026, 6, 1)
    VehicleFactory(
        owner=CustomerFactory(site=site, name="孙悟空"),
        plate="沪A12345",
        next_service_due_date=date(2026, 6, 9),
    )
    response = agent_client.get(reverse("care:due_this_month_csv"), {"month": "2026-06"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="due-{month:%Y-%m}.csv"'
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "Plate"
    assert rows[1][:5] == ["沪A12345", rows[1][1], "孙悟空", rows[1][3], "2026-06-09"]
    assert rows[1][8] == "Not yet"


def test_the_status_filter_keeps_only_that_status(site, agent_client):
    month = date(2026, 6, 1)
    a = VehicleFactory(owner=CustomerFactory(site=site), next_service_due_date=date(2026, 6, 3))
    b = VehicleFactory(owner=CustomerFactory(site=site), next_service_due_date=date(2026, 6, 4))
    CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="x",
        customer=a.owner,
        vehicle=a,
        due_at=datetime.combine(month, time(9), tzinfo=site.tzinfo),
        due_until=datetime.combine(month, time(18), tzinfo=site.tzinfo),
        status=TaskStatus.DONE,
    )
    response = agent_client.get(
        reverse("care:due_this_month"), {"month": "2026-06", "status": "contacted"}
    )
    assert [r.vehicle for r in response.context["rows"]] == [a]
    assert response.context["counts"]["not_yet"] == 1
    assert b.plate not in response.content.decode()


def test_technicians_may_not_see_the_list(site, client, make_user):
    client.force_login(make_user("technician"))
    assert client.get(reverse("care:due_this_month")).status_code == 403
    assert client.get(reverse("care:due_this_month_csv")).status_code == 403
    assert client.get(reverse("care:first_service")).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("care:due_this_month"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_first_service_page_shows_came_and_overdue(site, agent_client):
    today = timezone.localdate()
    overdue = VehicleFactory(
        owner=CustomerFactory(site=site),
        sold_by_site=True,
        purchase_date=today - timedelta(days=120),
    )
    response = agent_client.get(reverse("care:first_service"))
    assert response.status_code == 200
    assert overdue.plate in response.content.decode()
    assert response.context["rows"][0].status == "overdue"
    assert "Overdue" in response.content.decode()


def test_book_from_the_page(site, client, make_user):
    make_user("advisor")
    client.force_login(make_user("followup_agent"))
    vehicle = VehicleFactory(owner=CustomerFactory(site=site))
    now = timezone.now()
    task = CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="page",
        customer=vehicle.owner,
        vehicle=vehicle,
        due_at=now,
        due_until=now + timedelta(days=2),
        status=TaskStatus.OPEN,
    )
    day = timezone.localdate() + timedelta(days=14)
    day -= timedelta(days=day.weekday())
    response = client.post(
        reverse("care:book", args=[task.pk]),
        {"start": f"{day:%Y-%m-%d}T08:30"},
        follow=True,
    )
    assert response.status_code == 200
    appointment = Appointment.objects.get()
    assert appointment.source == "proactive"
    assert "Booked" in response.content.decode()
    # booking the same task again: a message, nothing more booked
    response = client.post(
        reverse("care:book", args=[task.pk]), {"start": "2020-01-06T08:30"}, follow=True
    )
    assert Appointment.objects.count() == 1
    assert "already booked" in response.content.decode()


def test_booking_another_sites_task_is_404(site, agent_client):
    other = SiteFactory()
    vehicle = VehicleFactory(owner=CustomerFactory(site=other))
    now = timezone.now()
    task = CallTask.objects.create(
        site=other,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="other",
        customer=vehicle.owner,
        vehicle=vehicle,
        due_at=now,
        due_until=now,
        status=TaskStatus.OPEN,
    )
    response = agent_client.post(
        reverse("care:book", args=[task.pk]), {"start": "2030-01-07T08:30"}
    )
    assert response.status_code == 404


def test_rules_page_for_the_manager_only(site, client, make_user):
    client.force_login(make_user("followup_agent"))
    assert client.get(reverse("care:rules")).status_code == 403
    client.force_login(make_user("manager"))
    response = client.get(reverse("care:rules"))
    assert response.status_code == 200
    assert "Insurance renewal" in response.content.decode()
    response = client.post(reverse("care:run_now"), follow=True)
    assert "Reminder rules ran" in response.content.decode()


def test_manager_changes_a_rule_in_the_admin_and_it_is_audited(site, client, make_user):
    from care.models import ReminderRule
    from care.services import rules_ensure
    from dms.audit import history

    rule = next(r for r in rules_ensure(site=site) if r.kind == "annual_inspection")
    manager = make_user("manager", is_staff=True, is_superuser=True)
    client.force_login(manager)
    url = reverse("admin:care_reminderrule_change", args=[rule.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("site", "kind")}
    data.update({"lead_days": 40, "enabled": "on" if rule.enabled else ""})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = ReminderRule.objects.get(pk=rule.pk)
    assert rule.lead_days == 40
    assert history(rule).last().data["lead_days"] == {"from": "30", "to": "40"}


def test_first_service_figures_set_in_the_admin_refresh_the_sites_due_days(
    site, client, make_user, monkeypatch, django_capture_on_commit_callbacks
):
    from care.models import ReminderRule
    from customers import tasks

    queued = []
    monkeypatch.setattr(tasks.refresh_service_due, "delay", queued.append)
    client.force_login(make_user("manager", is_staff=True, is_superuser=True))
    # a site without a first-service rule yet: adding one with its own figures
    add = {
        "site": site.pk,
        "kind": "first_service",
        "enabled": "on",
        "channel": "call",
        "lead_days": 14,
        "window_days": 30,
        "min_gap_days": 7,
        "interval_months": 2,
        "interval_km": 3000,
        "message_zh": "",
        "message_en": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:care_reminderrule_add"), add)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert queued == [site.pk]
    # then changing its months
    rule = ReminderRule.objects.get(site=site, kind="first_service")
    url = reverse("admin:care_reminderrule_change", args=[rule.pk])
    change = {k: v for k, v in add.items() if k not in ("site", "kind")}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**change, "interval_months": 4})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert ReminderRule.objects.get(pk=rule.pk).interval_months == 4
    assert queued == [site.pk, site.pk]


def test_due_this_month_csv_neutralises_formula_cells(site, agent_client):
    VehicleFactory(
        owner=CustomerFactory(site=site, name='=HYPERLINK("http://x","y")', phone="13800138000"),
        plate="沪A54321",
        next_service_due_date=date(2026, 6, 9),
    )
    response = agent_client.get(reverse("care:due_this_month_csv"), {"month": "2026-06"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][2] == '\'=HYPERLINK("http://x","y")'
