"""The nightly rule runner, driven by a controlled clock (`today` is passed in)."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from care.models import ReminderRule, RuleKind
from care.services import contact_window, run_reminder_rules
from customers.models import Channel
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import ClosedDate
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import JobLine, ROStatus, repair_order_of
from workorders.tests.factories import JobLineFactory, PartLineFactory, RepairOrderFactory

pytestmark = pytest.mark.django_db


def run(site, day):
    return run_reminder_rules(site=site, today=day)


def tasks(kind):
    return CallTask.objects.filter(kind=kind)


def local(site, day, clock):
    return datetime.combine(day, clock, tzinfo=site.tzinfo)


# --- dated renewals: insurance, annual inspection, licence -----------------------------------
DATED = [
    (RuleKind.INSURANCE_RENEWAL, "insurance_renewal_date"),
    (RuleKind.ANNUAL_INSPECTION, "annual_inspection_date"),
    (RuleKind.LICENCE_REVIEW, "licence_review_date"),
]


@pytest.mark.parametrize(("kind", "field"), DATED)
def test_dated_rule_fires_once_on_the_lead_day(site, only, today, kind, field):
    # given a renewal due 30 days after today and a rule with a 30-day lead time
    only(kind, lead_days=30, channel=Channel.SMS)
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), **{field: today + timedelta(30)})

    # when the rules run the day before the lead day: nothing
    run(site, today - timedelta(days=1))
    assert not tasks(kind).exists()

    # on the lead day: one SMS task, in calling hours, with the date in the message
    run(site, today)
    task = tasks(kind).get()
    assert task.vehicle == vehicle
    assert task.channel == Channel.SMS
    assert task.due_at == local(site, today, site.calling_hours_start)
    assert (today + timedelta(30)).isoformat() in task.message
    assert task.status == TaskStatus.SCHEDULED

    # re-runs the same night and the following nights add nothing
    run(site, today)
    run(site, today + timedelta(days=1))
    run(site, today + timedelta(days=10))
    assert tasks(kind).count() == 1


def test_dated_rule_off_creates_nothing(site, rules, today):
    rule = rules[RuleKind.INSURANCE_RENEWAL]
    ReminderRule.objects.filter(site=site).update(enabled=False)
    VehicleFactory(
        owner=CustomerFactory(site=site), insurance_renewal_date=today + timedelta(rule.lead_days)
    )
    run(site, today)
    assert not CallTask.objects.exists()


def test_a_missed_night_still_fires_within_the_window_but_not_after(site, only, today):
    only(RuleKind.INSURANCE_RENEWAL, lead_days=30, window_days=5)
    late = VehicleFactory(
        owner=CustomerFactory(site=site), insurance_renewal_date=today + timedelta(27)
    )
    stale = VehicleFactory(
        owner=CustomerFactory(site=site), insurance_renewal_date=today + timedelta(20)
    )
    run(site, today)
    assert list(tasks(TaskKind.INSURANCE_RENEWAL).values_list("vehicle", flat=True)) == [late.pk]
    assert stale.pk  # ten days past its lead day, beyond the 5-day window: not called


# --- consent, quiet period, cap, quiet hours ---------------------------------------------------
def test_an_opted_out_customer_receives_nothing(site, rules, today):
    # every rule would fire for this customer today
    customer = CustomerFactory(
        site=site, consent_call=False, consent_sms=False, consent_email=False
    )
    VehicleFactory(
        owner=customer,
        insurance_renewal_date=today + timedelta(rules[RuleKind.INSURANCE_RENEWAL].lead_days),
        annual_inspection_date=today + timedelta(rules[RuleKind.ANNUAL_INSPECTION].lead_days),
        next_service_due_date=today + timedelta(rules[RuleKind.MAINTENANCE_DUE].lead_days),
    )
    result = run(site, today)
    assert not CallTask.objects.filter(customer=customer).exists()
    assert result.skipped[RuleKind.INSURANCE_RENEWAL]["no_consent"] == 1


def test_an_sms_opt_out_falls_back_to_a_call(site, only, today):
    only(RuleKind.INSURANCE_RENEWAL, lead_days=30, channel=Channel.SMS)
    customer = CustomerFactory(site=site, consent_sms=False)
    VehicleFactory(owner=customer, insurance_renewal_date=today + timedelta(30))
    run(site, today)
    assert tasks(TaskKind.INSURANCE_RENEWAL).get().channel == Channel.CALL


def test_marketing_rules_need_marketing_consent(site, only, today):
    only(RuleKind.WINBACK_AT_RISK)
    delivered = local(site, date(2026, 3, 15), time(15))
    no = CustomerFactory(site=site, consent_marketing=False, last_delivery_at=delivered)
    yes = CustomerFactory(site=site, consent_marketing=True, last_delivery_at=delivered)
    VehicleFactory(owner=no)
    VehicleFactory(owner=yes)
    run(site, today)
    assert list(tasks(TaskKind.WINBACK_AT_RISK).values_list("customer", flat=True)) == [yes.pk]


def test_not_for_a_recently_contacted_customer(site, only, today):
    # given a customer the care engine called three days ago
    rule = only(RuleKind.INSURANCE_RENEWAL, lead_days=30, window_days=14, min_gap_days=7)
    customer = CustomerFactory(site=site)
    vehicle = VehicleFactory(owner=customer, insurance_renewal_date=today + timedelta(30))
    CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="earlier",
        customer=customer,
        vehicle=vehicle,
        due_at=local(site, today - timedelta(3), time(10)),
        due_until=local(site, today - timedelta(1), time(18)),
        status=TaskStatus.DONE,
    )
    # when the renewal rule's day comes: skipped as recently contacted
    result = run(site, today)
    assert not tasks(TaskKind.INSURANCE_RENEWAL).exists()
    assert result.skipped[rule.kind] == {"recently_contacted": 1}
    # once the quiet period is over, and still inside the window, it fires
    run(site, today + timedelta(days=5))
    assert tasks(TaskKind.INSURANCE_RENEWAL).count() == 1


def test_monthly_cap_holds_back_further_reminders(site, only, today):
    site.marketing_contacts_per_month = 1
    site.save()
    only(RuleKind.INSURANCE_RENEWAL, lead_days=30, min_gap_days=0)
    customer = CustomerFactory(site=site)
    VehicleFactory(owner=customer, insurance_renewal_date=today + timedelta(30))
    CallTask.objects.create(
        site=site,
        kind=TaskKind.ANNUAL_INSPECTION,
        source_key="earlier",
        customer=customer,
        due_at=local(site, today - timedelta(12), time(10)),
        due_until=local(site, today - timedelta(10), time(18)),
        status=TaskStatus.SENT,
    )
    result = run(site, today)
    assert not tasks(TaskKind.INSURANCE_RENEWAL).exists()
    assert result.skipped[RuleKind.INSURANCE_RENEWAL] == {"monthly_cap": 1}


def test_two_rules_on_one_night_reach_the_customer_once(site, rules, today):
    customer = CustomerFactory(site=site)
    VehicleFactory(
        owner=customer,
        insurance_renewal_date=today + timedelta(rules[RuleKind.INSURANCE_RENEWAL].lead_days),
        annual_inspection_date=today + timedelta(rules[RuleKind.ANNUAL_INSPECTION].lead_days),
    )
    run(site, today)
    assert CallTask.objects.filter(customer=customer).count() == 1


def test_quiet_hours_move_the_task_after_them(site, only, today):
    only(RuleKind.INSURANCE_RENEWAL, lead_days=30)
    customer = CustomerFactory(site=site, quiet_hours_start=time(21), quiet_hours_end=time(10, 30))
    VehicleFactory(owner=customer, insurance_renewal_date=today + timedelta(30))
    run(site, today)
    assert tasks(TaskKind.INSURANCE_RENEWAL).get().due_at == local(site, today, time(10, 30))


def test_contact_window_skips_closed_dates(site, today):
    customer = CustomerFactory(site=site)
    ClosedDate.objects.create(site=site, date=today, reason="holiday")
    due_at, due_until = contact_window(
        site=site, customer=customer, day=today, window_days=7, closed={today}
    )
    assert due_at == local(site, today + timedelta(1), site.calling_hours_start)
    assert due_until == local(site, today + timedelta(6), site.calling_hours_end)


def test_a_booked_vehicle_is_not_called(site, only, today, make_user):
    from appointments.models import Appointment

    only(RuleKind.MAINTENANCE_DUE, lead_days=14)
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site), next_service_due_date=today + timedelta(14)
    )
    start = local(site, today + timedelta(3), time(10))
    Appointment.objects.create(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=make_user("advisor"),
        start=start,
        end=start + timedelta(minutes=15),
        day=start.date(),
    )
    result = run(site, today)
    assert not tasks(TaskKind.MAINTENANCE_DUE).exists()
    assert result.skipped[RuleKind.MAINTENANCE_DUE] == {"booked": 1}


# --- maintenance and first service -----------------------------------------------------------
def test_maintenance_by_date_fires_on_the_lead_day(site, only, today):
    only(RuleKind.MAINTENANCE_DUE, lead_days=14)
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site), next_service_due_date=today + timedelta(14)
    )
    run(site, today - timedelta(1))
    assert not tasks(TaskKind.MAINTENANCE_DUE).exists()
    run(site, today)
    run(site, today)
    task = tasks(TaskKind.MAINTENANCE_DUE).get()
    assert task.vehicle == vehicle
    assert task.data["due_reason"] == "date"
    assert vehicle.plate in task.message


def test_overdue_maintenance_is_still_called_within_the_window_after_the_due_date(
    site, only, today
):
    only(RuleKind.MAINTENANCE_DUE, lead_days=14, window_days=10)
    recent = VehicleFactory(
        owner=CustomerFactory(site=site), next_service_due_date=today - timedelta(days=10)
    )
    VehicleFactory(owner=CustomerFactory(site=site), next_service_due_date=today - timedelta(11))
    run(site, today)
    assert list(tasks(TaskKind.MAINTENANCE_DUE).values_list("vehicle", flat=True)) == [recent.pk]


def test_maintenance_by_projected_mileage_comes_first(site, only):
    # given a car that did 10 000 km in 200 days (50 km/day), last serviced at 10 000 km
    only(RuleKind.MAINTENANCE_DUE, lead_days=14)
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site),
        mileage_km=15000,
        mileage_read_at=date(2026, 4, 1),
        service_interval_km=10000,
        service_interval_months=12,
    )
    ro = RepairOrderFactory(
        vehicle=vehicle,
        odometer_km=5000,
        opened_day=date(2025, 9, 13),
        status=ROStatus.DELIVERED,
        delivered_day=date(2025, 9, 13),
        delivered_at=timezone.now(),
    )
    assert ro.pk
    # 2025-09-13 at 5 000 km → 2026-04-01 at 15 000 km: 200 days, 50 km/day.
    # Due at 15 000 km (5 000 + interval) → already reached: due on the reading day, so the
    # rule fires at once; by date it would be 2026-09-13.
    run(site, date(2026, 4, 2))
    task = tasks(TaskKind.MAINTENANCE_DUE).get()
    assert task.data["due_reason"] == "km"
    assert task.data["due_km"] == 15000


def test_maintenance_by_mileage_fires_lead_days_before_the_projected_day(site, only):
    only(RuleKind.MAINTENANCE_DUE, lead_days=14)
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site),
        mileage_km=12000,
        mileage_read_at=date(2026, 4, 1),
        next_service_due_km=20000,
        next_service_due_date=date(2027, 1, 1),
    )
    RepairOrderFactory(vehicle=vehicle, odometer_km=2000, opened_day=date(2025, 12, 22))
    # 10 000 km in 100 days = 100 km/day; 8 000 km more → 80 days after 2026-04-01 = 06-20
    due = date(2026, 6, 20)
    run(site, due - timedelta(days=15))
    assert not tasks(TaskKind.MAINTENANCE_DUE).exists()
    run(site, due - timedelta(days=14))
    task = tasks(TaskKind.MAINTENANCE_DUE).get()
    assert task.data["due_date"] == due.isoformat()
    assert task.data["due_reason"] == "km"


def test_one_open_task_per_vehicle_and_kind(site, only, today):
    only(RuleKind.MAINTENANCE_DUE, lead_days=14, min_gap_days=0)
    vehicle = VehicleFactory(
        owner=CustomerFactory(site=site), next_service_due_date=today + timedelta(14)
    )
    CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="from-another-cycle",
        customer=vehicle.owner,
        vehicle=vehicle,
        due_at=local(site, today - timedelta(40), time(10)),
        due_until=local(site, today + timedelta(5), time(18)),
        status=TaskStatus.OPEN,
    )
    result = run(site, today)
    assert tasks(TaskKind.MAINTENANCE_DUE).count() == 1
    assert result.skipped[RuleKind.MAINTENANCE_DUE] == {"open_task": 1}


def test_first_service_for_a_new_car_sold_here(site, only):
    rule = only(RuleKind.FIRST_SERVICE, lead_days=14, interval_months=3, interval_km=5000)
    sold = VehicleFactory(
        owner=CustomerFactory(site=site),
        sold_by_site=True,
        purchase_date=date(2026, 3, 10),
        mileage_km=0,
    )
    # 3 months after purchase: 2026-06-10; lead 14 days → fires 2026-05-27 (5 000 km at the
    # default 40 km/day would take 125 days, later than the date)
    run(site, date(2026, 5, 26))
    assert not tasks(TaskKind.FIRST_SERVICE).exists()
    run(site, date(2026, 5, 27))
    run(site, date(2026, 5, 28))
    task = tasks(TaskKind.FIRST_SERVICE).get()
    assert task.vehicle == sold
    assert task.data["due_date"] == "2026-06-10"
    assert rule.kind == task.kind
    assert not tasks(TaskKind.MAINTENANCE_DUE).exists()


def test_first_service_not_for_a_car_that_came(site, rules):
    sold = VehicleFactory(
        owner=CustomerFactory(site=site),
        sold_by_site=True,
        purchase_date=date(2026, 3, 10),
    )
    RepairOrderFactory(vehicle=sold, is_first_service=True, opened_day=date(2026, 5, 1))
    run(site, date(2026, 5, 27))
    assert not tasks(TaskKind.FIRST_SERVICE).exists()


# --- declined work -----------------------------------------------------------------------------
def test_declined_work_comes_back_after_the_delay_with_reason_and_price(site, only):
    only(RuleKind.DECLINED_WORK, lead_days=30)
    delivered = date(2026, 5, 1)
    ro = RepairOrderFactory(
        site=site,
        vehicle=VehicleFactory(owner=CustomerFactory(site=site)),
        status=ROStatus.DELIVERED,
        delivered_day=delivered,
        delivered_at=local(site, delivered, time(16)),
        opened_day=delivered,
    )
    line = JobLineFactory(
        repair_order=ro,
        description="更换刹车片",
        is_additional=True,
        approval=JobLine.Approval.DECLINED,
        declined_reason="下次再说",
        standard_hours=Decimal("2.00"),
        labour_amount=Decimal("360.00"),
    )
    PartLineFactory(job=line, name="刹车片", unit_price=Decimal("85.00"))
    JobLineFactory(repair_order=ro, description="保养")  # authorized, done: not mentioned

    run(site, delivered + timedelta(days=29))
    assert not tasks(TaskKind.DECLINED_WORK).exists()
    run(site, delivered + timedelta(days=30))
    run(site, delivered + timedelta(days=31))
    task = tasks(TaskKind.DECLINED_WORK).get()
    assert repair_order_of(task) == ro
    assert "更换刹车片" in task.message
    assert "下次再说" in task.message
    assert "445.00" in task.message
    assert "保养" not in task.data["messages"]["zh-hans"].split("：", 1)[1].split("，合计")[0]
    assert task.data["declined_lines"][0]["amount"] == "445.00"


def test_declined_work_not_called_when_the_car_came_back(site, only):
    only(RuleKind.DECLINED_WORK, lead_days=30)
    vehicle = VehicleFactory(owner=CustomerFactory(site=site))
    delivered = date(2026, 5, 1)
    ro = RepairOrderFactory(
        vehicle=vehicle,
        status=ROStatus.DELIVERED,
        delivered_day=delivered,
        delivered_at=local(site, delivered, time(16)),
    )
    JobLineFactory(repair_order=ro, approval=JobLine.Approval.DECLINED)
    RepairOrderFactory(vehicle=vehicle, opened_day=date(2026, 5, 20))
    run(site, delivered + timedelta(days=30))
    assert not tasks(TaskKind.DECLINED_WORK).exists()


# --- win-back (3-6-9) --------------------------------------------------------------------------
def test_winback_fires_when_entering_at_risk_then_nearly_lost(site, rules):
    ReminderRule.objects.filter(site=site).exclude(
        kind__in=[RuleKind.WINBACK_AT_RISK, RuleKind.WINBACK_NEARLY_LOST]
    ).update(enabled=False)
    ReminderRule.objects.filter(site=site).update(min_gap_days=0)
    customer = CustomerFactory(
        site=site,
        consent_marketing=True,
        last_delivery_at=local(site, date(2026, 1, 20), time(15)),
    )
    VehicleFactory(owner=customer)
    run(site, date(2026, 4, 19))
    assert not CallTask.objects.exists()
    run(site, date(2026, 4, 20))  # three months after the last delivery
    run(site, date(2026, 4, 21))
    at_risk = tasks(TaskKind.WINBACK_AT_RISK).get()
    assert at_risk.data["months"] == 3
    at_risk.status = TaskStatus.DONE
    at_risk.save()
    run(site, date(2026, 7, 19))
    assert not tasks(TaskKind.WINBACK_NEARLY_LOST).exists()
    run(site, date(2026, 7, 20))  # six months
    run(site, date(2026, 7, 20))
    assert tasks(TaskKind.WINBACK_NEARLY_LOST).count() == 1
    assert tasks(TaskKind.WINBACK_AT_RISK).count() == 1


def test_winback_not_for_a_customer_who_came_back(site, only):
    only(RuleKind.WINBACK_AT_RISK)
    customer = CustomerFactory(
        site=site,
        consent_marketing=True,
        last_delivery_at=local(site, date(2026, 5, 2), time(15)),
    )
    VehicleFactory(owner=customer)
    run(site, date(2026, 4, 20))
    assert not CallTask.objects.exists()


# --- the run log ------------------------------------------------------------------------------
def test_each_run_is_logged_with_its_counts(site, only, today):
    only(RuleKind.INSURANCE_RENEWAL, lead_days=30)
    VehicleFactory(owner=CustomerFactory(site=site), insurance_renewal_date=today + timedelta(30))
    first = run(site, today)
    second = run(site, today)
    assert first.created == {RuleKind.INSURANCE_RENEWAL: 1}
    assert second.created == {}
    assert second.skipped == {RuleKind.INSURANCE_RENEWAL: {"done_before": 1}}
    assert first.finished_at is not None
