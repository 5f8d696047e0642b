"""Bad input sweep: every API action answers the typical wrong inputs with a 4xx that says what is
wrong, and changes nothing.

One demo dealership plus a second site is loaded once; each case is sent by a person who may do
the action, and for each we compare the row count of every table of the product and the target
row itself before and after. All cases run and the failures are reported together.
"""

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from rest_framework.test import APIClient

from appointments.models import Appointment
from customers.models import Customer, Vehicle
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Site
from dms.tests.factories import SiteFactory
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import JobLine, RepairOrder
from workorders.tests.factories import ro_in_state

APPS = ("dms", "customers", "appointments", "workorders", "workshop", "followups", "care")
LONG = "x" * 5000
HUGE = 10**20


def counts() -> dict[str, int]:
    return {
        m._meta.label: m._default_manager.count()
        for label in APPS
        for m in apps.get_app_config(label).get_models()
        if not m._meta.label.endswith(("IdempotencyRecord", "Session"))
    }


def snapshot(obj):
    if obj is None:
        return None
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    return {k: str(v) for k, v in model_to_dict(fresh).items()}


@pytest.fixture
def world():
    call_command("load_demo", verbosity=0)
    users = {u.username: u for u in get_user_model().objects.all()}
    site = Site.objects.order_by("pk").first()
    other = SiteFactory()
    other_customer = CustomerFactory(site=other)
    other_vehicle = VehicleFactory(site=other, owner=other_customer)
    other_ro = ro_in_state("authorized", site=other)
    today = timezone.localdate()
    ros = RepairOrder.objects.filter(site=site)
    return {
        "users": users,
        "site": site,
        "other_customer": other_customer,
        "other_vehicle": other_vehicle,
        "other_ro": other_ro,
        "other_job": other_ro.lines.first(),
        "customer": Customer.objects.filter(site=site).first(),
        "vehicle": Vehicle.objects.filter(site=site).first(),
        "appointment": Appointment.objects.filter(
            site=site, status__in=["booked", "confirmed"], day__gte=today
        ).first(),
        "delivered": ros.filter(status="delivered").first(),
        "opened": ros.filter(status__in=["opened", "estimate"]).first()
        or ros.exclude(status__in=["delivered", "cancelled", "invoiced"]).first(),
        "in_progress": ros.filter(status="in_progress").first(),
        "job": JobLine.objects.filter(
            repair_order__site=site, repair_order__status__in=["authorized", "in_progress"]
        ).first(),
        "followup": CallTask.objects.filter(
            site=site, kind=TaskKind.FOLLOWUP, status=TaskStatus.OPEN
        ).first(),
        "rule": apps.get_model("care", "ReminderRule").objects.filter(site=site).first(),
        "past": (timezone.localtime() - timedelta(days=3)).strftime("%Y-%m-%dT10:00"),
        "future": (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT10:00"),
    }


def cases(w):
    """(who, method, path, body, field that must be named or None, the row that must not change)."""
    appt, ro, done, job, fu = (
        w["appointment"],
        w["opened"],
        w["delivered"],
        w["job"],
        w["followup"],
    )
    ov, oro, ojob = w["other_vehicle"], w["other_ro"], w["other_job"]
    yield "advisor", "post", "/api/v1/customers/", {}, "name", None
    yield "advisor", "post", "/api/v1/customers/", {"name": "王芳", "phone": "12"}, "phone", None
    yield (
        "advisor",
        "post",
        "/api/v1/customers/",
        {"name": LONG, "phone": "13912345670"},
        "name",
        None,
    )
    yield "advisor", "post", "/api/v1/vehicles/", {}, "owner", None
    yield "advisor", "post", "/api/v1/vehicles/", {"owner": "abc", "vin": "x"}, "owner", None
    yield "advisor", "post", "/api/v1/vehicles/", {"owner": w["other_customer"].pk, "vin": "LSVAU218XN2183294"}, "owner", None  # fmt: skip
    yield "advisor", "patch", f"/api/v1/customers/{w['customer'].pk}/", {"email": "not-an-email"}, "email", w["customer"]  # fmt: skip
    yield "advisor", "post", f"/api/v1/vehicles/{w['vehicle'].pk}/mileage/", {"km": -5}, "km", w["vehicle"]  # fmt: skip
    yield "advisor", "post", f"/api/v1/vehicles/{w['vehicle'].pk}/mileage/", {"km": HUGE}, "km", w["vehicle"]  # fmt: skip
    yield "advisor", "post", f"/api/v1/vehicles/{ov.pk}/mileage/", {"km": 10}, None, ov
    yield "advisor", "patch", f"/api/v1/vehicles/{w['vehicle'].pk}/", {"mileage_km": HUGE}, "mileage_km", w["vehicle"]  # fmt: skip
    yield "advisor", "patch", f"/api/v1/vehicles/{w['vehicle'].pk}/", {"year": HUGE}, "year", w["vehicle"]  # fmt: skip
    yield "advisor", "patch", f"/api/v1/vehicles/{w['vehicle'].pk}/", {"next_service_due_km": HUGE}, "next_service_due_km", w["vehicle"]  # fmt: skip
    yield "advisor", "patch", f"/api/v1/vehicles/{ov.pk}/", {"colour": "red"}, None, ov
    # appointments
    yield "advisor", "post", "/api/v1/appointments/", {}, "vehicle", None
    yield "advisor", "post", "/api/v1/appointments/", {"vehicle": "abc", "start": w["future"]}, "vehicle", None  # fmt: skip
    yield "advisor", "post", "/api/v1/appointments/", {"vehicle": w["vehicle"].pk, "start": w["past"], "estimated_hours": "1.0"}, "start", None  # fmt: skip
    yield "advisor", "post", "/api/v1/appointments/", {"vehicle": w["vehicle"].pk, "start": "soon"}, "start", None  # fmt: skip
    yield "advisor", "post", "/api/v1/appointments/", {"vehicle": ov.pk, "start": w["future"], "estimated_hours": "1.0"}, None, None  # fmt: skip
    yield "advisor", "post", "/api/v1/appointments/", {"vehicle": w["vehicle"].pk, "start": w["future"], "notes": LONG}, "notes", None  # fmt: skip
    yield "advisor", "post", "/api/v1/appointments/", {"vehicle": w["vehicle"].pk, "start": w["future"], "estimated_hours": HUGE}, "estimated_hours", None  # fmt: skip
    yield "advisor", "get", "/api/v1/appointments/availability/", {"date": "2020-01-01", "hours": "1"}, "date", None  # fmt: skip
    yield "advisor", "get", "/api/v1/appointments/availability/", {"date": "tomorrow", "hours": "x"}, "date", None  # fmt: skip
    if appt:
        yield "advisor", "post", f"/api/v1/appointments/{appt.pk}/cancel/", {}, "reason", appt
        yield "advisor", "post", f"/api/v1/appointments/{appt.pk}/cancel/", {"reason": LONG}, "reason", appt  # fmt: skip
        yield "advisor", "post", f"/api/v1/appointments/{appt.pk}/reschedule/", {"start": w["past"]}, "start", appt  # fmt: skip
    # repair orders
    yield "advisor", "post", "/api/v1/repair-orders/", {}, "customer", None
    yield "advisor", "post", "/api/v1/repair-orders/", {"customer": w["customer"].pk, "vehicle": "x"}, "vehicle", None  # fmt: skip
    yield "advisor", "post", "/api/v1/repair-orders/", {"customer": w["other_customer"].pk, "vehicle": ov.pk}, None, None  # fmt: skip
    yield "advisor", "post", "/api/v1/repair-orders/", {"customer": w["customer"].pk, "vehicle": w["vehicle"].pk, "odometer_km": HUGE}, "odometer_km", None  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{oro.pk}/cancel/", {"reason": "x"}, None, oro
    yield "advisor", "post", f"/api/v1/repair-orders/{done.pk}/authorize/", {"channel": "phone"}, None, done  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{done.pk}/cancel/", {"reason": "no"}, None, done  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{ro.pk}/cancel/", {}, "reason", ro
    yield "advisor", "post", f"/api/v1/repair-orders/{ro.pk}/cancel/", {"reason": LONG}, "reason", ro  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{ro.pk}/lines/", {"description": LONG, "standard_hours": "1"}, "description", ro  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{ro.pk}/lines/", {"description": "Brakes", "standard_hours": "abc"}, "standard_hours", ro  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{ro.pk}/lines/", {"description": "Brakes", "standard_hours": HUGE}, "standard_hours", ro  # fmt: skip
    yield "advisor", "put", f"/api/v1/repair-orders/{ro.pk}/intake/", {"covers_fitted": True, "odometer_km": HUGE}, "odometer_km", ro  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{ro.pk}/authorize/", {"channel": "pigeon"}, "channel", ro  # fmt: skip
    yield "qc", "post", f"/api/v1/repair-orders/{done.pk}/qc-pass/", {}, "checklist", done
    yield "advisor", "post", f"/api/v1/repair-orders/{done.pk}/deliver/", {"payment_method": "bitcoin", "handover": {}}, "payment_method", done  # fmt: skip
    yield "advisor", "post", f"/api/v1/repair-orders/{ro.pk}/record-delay/", {"promised_at": "later"}, "promised_at", ro  # fmt: skip
    # workshop
    if job:
        yield "dispatcher", "post", f"/api/v1/jobs/{job.pk}/assign/", {}, "technician_id", job
        yield "dispatcher", "post", f"/api/v1/jobs/{job.pk}/assign/", {"technician_id": "x"}, "technician_id", job  # fmt: skip
        yield "dispatcher", "post", f"/api/v1/jobs/{job.pk}/assign/", {"technician_id": HUGE}, "technician_id", job  # fmt: skip
        yield "dispatcher", "post", f"/api/v1/jobs/{job.pk}/assign/", {"technician_id": w["users"]["tech"].pk, "bay": LONG}, "bay", job  # fmt: skip
    yield "dispatcher", "post", f"/api/v1/jobs/{ojob.pk}/assign/", {"technician_id": w["users"]["tech"].pk}, None, ojob  # fmt: skip
    yield "tech", "post", f"/api/v1/jobs/{ojob.pk}/clock-on/", None, None, ojob
    # follow-ups and complaints
    if fu:
        yield "agent", "post", f"/api/v1/followups/{fu.pk}/outcome/", {}, "outcome", fu
        yield "agent", "post", f"/api/v1/followups/{fu.pk}/outcome/", {"outcome": "maybe"}, "outcome", fu  # fmt: skip
        yield "agent", "post", f"/api/v1/followups/{fu.pk}/outcome/", {"outcome": "reached", "satisfaction": 99}, "satisfaction", fu  # fmt: skip
        yield "agent", "post", f"/api/v1/followups/{fu.pk}/outcome/", {"outcome": "reached", "satisfaction": HUGE}, "satisfaction", fu  # fmt: skip
        yield "agent", "post", f"/api/v1/followups/{fu.pk}/outcome/", {"outcome": "reached", "satisfaction": 4, "comments": LONG * 4}, "comments", fu  # fmt: skip
    yield "agent", "post", "/api/v1/complaints/", {}, "channel", None
    yield "agent", "post", "/api/v1/complaints/", {"channel": "pigeon", "customer": w["customer"].pk, "description": "x"}, "channel", None  # fmt: skip
    yield "agent", "post", "/api/v1/complaints/", {"channel": "phone", "customer": w["other_customer"].pk, "description": "x"}, None, None  # fmt: skip
    # care and KPIs
    if w["rule"]:
        yield "manager", "patch", f"/api/v1/reminder-rules/{w['rule'].pk}/", {"lead_days": -1}, "lead_days", w["rule"]  # fmt: skip
        yield "manager", "patch", f"/api/v1/reminder-rules/{w['rule'].pk}/", {"lead_days": "x"}, "lead_days", w["rule"]  # fmt: skip
        yield "manager", "patch", f"/api/v1/reminder-rules/{w['rule'].pk}/", {"lead_days": HUGE}, "lead_days", w["rule"]  # fmt: skip
    yield "agent", "post", "/api/v1/care-bookings/", {}, "task", None
    yield "manager", "get", "/api/v1/kpis/", {"start": "2026-13-01", "end": "2026-12-01"}, "start", None  # fmt: skip
    yield "manager", "get", "/api/v1/kpis/", {"start": "2026-12-01", "end": "2026-11-01"}, None, None  # fmt: skip
    yield "manager", "get", "/api/v1/kpis/", {"site": w["other_customer"].site_id}, None, None


@pytest.mark.slow
@pytest.mark.django_db
def test_wrong_input_is_a_4xx_with_a_message_and_changes_nothing(world):
    clients = {}
    problems = []
    ran = 0
    for who, method, path, body, field, row in cases(world):
        client = clients.get(who)
        if client is None:
            client = clients[who] = APIClient()
            client.force_authenticate(world["users"][who])
        before, row_before = counts(), snapshot(row)
        try:
            with transaction.atomic():  # a crash must not take the next cases with it
                if method == "get":
                    response = client.get(path, body)
                else:
                    response = getattr(client, method)(path, body, format="json")
        except Exception as exc:  # a crash is a finding, reported with the others
            problems.append(f"{who} {method.upper()} {path} {str(body)[:80]}: crashed: {exc!r}")
            continue
        ran += 1
        label = f"{who} {method.upper()} {path} {str(body)[:80]}"
        try:
            payload = response.json()
        except ValueError:
            problems.append(f"{label}: {response.status_code}, not JSON")
            continue
        if not 400 <= response.status_code < 500:
            problems.append(f"{label}: {response.status_code} {str(payload)[:200]}")
        elif not payload.get("message"):
            problems.append(f"{label}: {response.status_code} without a message")
        elif field and field not in payload.get("fields", {}):
            problems.append(f"{label}: no message for {field!r} in {payload.get('fields')}")
        if counts() != before:
            changed = {k: (v, counts()[k]) for k, v in before.items() if counts()[k] != v}
            problems.append(f"{label}: rows changed {changed}")
        if snapshot(row) != row_before:
            problems.append(f"{label}: {row!r} changed")
    ran += page_forms(world, problems)
    print(f"\nbad input sweep: {ran} requests")  # noqa: T201 - the sweep's size belongs in the output
    assert ran > 50
    assert not problems, "\n".join(problems)


def form_cases(w):
    """(who, url, posted fields, must the page show an error) for the pages' main forms."""
    from django.urls import reverse

    ro, done, oro, fu = w["opened"], w["delivered"], w["other_ro"], w["followup"]
    v = w["vehicle"]
    yield "advisor", reverse("customers:create"), {}, w["customer"]
    yield "advisor", reverse("customers:create"), {"name": LONG, "phone": "12"}, None
    yield "advisor", reverse("customers:vehicle_mileage", args=[v.pk]), {"km": "-5"}, v
    yield "advisor", reverse("customers:vehicle_mileage", args=[v.pk]), {"km": str(HUGE)}, v
    yield "advisor", reverse("appointments:book"), {"vehicle": v.pk, "start": w["past"]}, None
    yield "advisor", reverse("appointments:book"), {"vehicle": v.pk, "start": "soon"}, None
    yield "advisor", reverse("appointments:book"), {"vehicle": w["other_vehicle"].pk, "start": w["future"]}, None  # fmt: skip
    yield "advisor", reverse("workorders:action", args=[done.pk, "cancel"]), {"reason": "x"}, done
    yield "advisor", reverse("workorders:action", args=[oro.pk, "cancel"]), {"reason": "x"}, oro
    yield "advisor", reverse("workorders:action", args=[ro.pk, "record-delay"]), {"promised_at": "later"}, ro  # fmt: skip
    yield "dispatcher", reverse("workshop:board_assign"), {"job_id": "abc"}, None
    yield "dispatcher", reverse("workshop:board_assign"), {"job_id": w["other_job"].pk, "technician_id": w["users"]["tech"].pk}, w["other_job"]  # fmt: skip
    if fu:
        yield "agent", reverse("followups:outcome", args=[fu.pk]), {}, fu
        yield "agent", reverse("followups:outcome", args=[fu.pk]), {"outcome": "reached", "satisfaction": "99"}, fu  # fmt: skip
    yield "agent", reverse("followups:complaint_new"), {"customer": w["customer"].pk, "channel": "phone", "description": ""}, None  # fmt: skip


def page_forms(world, problems) -> int:
    """Pages answer a 4xx with the fields marked, or take the person back to the page with the
    error shown; nothing is saved either way."""
    from django.test import Client

    ran = 0
    for who, url, data, row in form_cases(world):
        client = Client()
        client.force_login(world["users"][who])
        before, row_before = counts(), snapshot(row)
        label = f"{who} POST {url} {str(data)[:80]}"
        try:
            with transaction.atomic():
                response = client.post(url, data, follow=True, HTTP_HX_REQUEST="true")
        except Exception as exc:  # a crash is a finding, reported with the others
            problems.append(f"{label}: crashed: {exc!r}")
            continue
        ran += 1
        text = response.content.decode(errors="replace")
        shown = any(mark in text for mark in ("field-error", "msg-error", '"fields"', "errorlist"))
        if response.status_code >= 500:
            problems.append(f"{label}: {response.status_code}")
        elif response.status_code != 404 and not shown:
            problems.append(f"{label}: {response.status_code} and no error shown")
        if counts() != before:
            problems.append(f"{label}: rows changed")
        if snapshot(row) != row_before:
            problems.append(f"{label}: {row!r} changed")
    return ran
