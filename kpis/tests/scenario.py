"""A small, fully hand-computed week at one site (Asia/Shanghai), used by the KPI tests.

Period: Monday 2026-03-02 … Sunday 2026-03-08 (open Mon–Sat → 6 open days).
Every expected value is worked out by hand in EXPECTED, with the arithmetic beside it.
"""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from appointments.models import Appointment, AppointmentStatus
from customers.services import vehicle_estimates_refresh
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Role, StaffRole
from dms.tests.factories import SiteFactory, make_staff
from followups.models import Complaint
from outreach.models import CallOutcome, CallTask, TaskKind, TaskStatus
from workorders.models import JobLine, ROStatus
from workorders.tests.factories import (
    JobLineFactory,
    PartLineFactory,
    RepairOrderFactory,
    call_task_create,
)
from workshop.models import ClockEntry

TZ = ZoneInfo("Asia/Shanghai")
START = dt.date(2026, 3, 2)
END = dt.date(2026, 3, 8)
TODAY = dt.date(2026, 3, 20)


def local(month, day, hour=0, minute=0, year=2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)


EXPECTED = {
    "ro_opened": 5,  # R1 R2 R3 R5 R7 (R4 cancelled, R8 after the period)
    "ro_delivered": 4,  # R1 R2 R3 R6 (R6 delivered 00:30 local on the 2nd)
    "appointment_rate": 0.4,  # R1 R2 from appointments ÷ 5
    "show_rate": 0.5,  # arrived 2 ÷ (2 arrived + 1 no-show + 1 booked), cancelled excluded
    "hours_per_ro": 1.5,  # (2.0 + 1.5 + 1.0 + 1.0 + 0.5) ÷ 4 — declined line not sold
    "parts_lines_per_ro": 1.0,  # R1 2 + R2 1 (declined line's part excluded) + R6 1 = 4 ÷ 4
    "labour_revenue_per_ro": 270.0,  # (360 + 450 + 180 + 90) ÷ 4
    "parts_revenue_per_ro": 87.5,  # (200 + 100 + 0 + 50) ÷ 4
    "on_time_delivery_rate": 0.5,  # R1, R6 on time; R2 late; R3 had no promise
    "qc_first_pass_rate": 0.6667,  # R1 R6 first pass ÷ R1 R2 R6 QC'd (R3 never QC'd)
    "comeback_rate": 0.25,  # R3 came back (R5) ÷ 4
    "technician_efficiency": 0.7778,  # (2.0 + 1.5) sold ÷ (2.5 + 2.0) clocked on L1, L2
    "technician_productivity": 0.0573,  # 5.5 h clocked ÷ (2 techs × 8 h × 6 days = 96 h)
    "effective_labour_rate": 180.0,  # 1080 ÷ 6.0 sold hours
    "additional_work_capture_rate": 0.3333,  # L3 approved ÷ L3 L4 L7 proposed
    "additional_work_amount_capture_rate": 0.4,  # 180 ÷ (180 + 90 + 180)
    "additional_lines_proposed": 3,
    "additional_lines_approved": 1,
    "additional_lines_declined": 1,
    "declined_work_recovered": 1,  # L4 "Brake fluid" done on R8 later
    "followup_rate": 0.5,  # R1 R6 completed in window ÷ 4 (R2 late, R3 late)
    "followup_rate_warranty": 0.5,  # warranty: R1 (followed), R3 (not)
    "satisfaction_rate": 0.6667,  # satisfied 5, 4 ÷ reached 5, 4, 2 (R3's call after period)
    "complaints_opened": 2,  # C1 C2
    "complaints_closed": 2,  # C1 (48 h) C3 (372 h)
    "complaint_median_hours_to_close": 210.0,  # (48 + 372) ÷ 2
    "complaints_overdue": 1,  # C2 never contacted, past respond-by; C3 opened before
    # first service by the site's rule (the default: 3 months or 5,000 km at 40 km/day, 125
    # days): bought in December, due 03-03 (FV1), 03-08 (FV2), 03-06 (FV5), 03-09 (outside)
    "first_service_capture_rate": 0.6667,  # FV1 (flag), FV2 (首保 RO R7) ÷ FV1 FV2 FV5
    "first_service_due": 3,
    "retention": {"active": 2, "at_risk": 1, "nearly_lost": 1, "lost": 1},
    # next service in March by date or projected mileage, first services included: set for 03-01
    # and 03-31 (not 04-01); the car not sold here, bought in September with a 6-month
    # interval: 03-05; FV5 and the 12-09 car, waiting for their first service: 03-06, 03-09
    # (FV1, first service done, and FV2, first service seen on R7: June, 6 months after purchase)
    "due_this_month": 5,
    "workshop_load": 0.0282,  # (3.0 + 2.0 + 1.5) booked ÷ (38.4 h × 6 days = 230.4)
    "labour_revenue": 1080.0,
    "parts_revenue": 350.0,
    "sold_hours": 6.0,
    "clocked_hours": 5.5,
    "attended_hours": 96.0,
    "booked_hours": 6.5,
    "capacity_hours": 230.4,
}


def build() -> dict:
    """Create the scenario; return the objects tests refer to."""
    site = SiteFactory(time_zone="Asia/Shanghai")  # Mon–Sat open; 6 × 8 h × 0.8 = 38.4 h/day
    other = SiteFactory()
    a1 = make_staff(role=Role.ADVISOR, site=site, username="adv1", first_name="Li", last_name="A")
    a2 = make_staff(role=Role.ADVISOR, site=site, username="adv2", first_name="Wu", last_name="B")
    t1 = make_staff(role=Role.TECHNICIAN, site=site, username="tech1", first_name="Zhao")
    t2 = make_staff(role=Role.TECHNICIAN, site=site, username="tech2", first_name="Qian")
    off = make_staff(role=Role.TECHNICIAN, site=site, username="tech_off")
    StaffRole.objects.filter(user=off).update(on_duty=False)
    agent = make_staff(role=Role.FOLLOWUP_AGENT, site=site, username="agent1")

    def vehicle(**kw):
        return VehicleFactory(owner=CustomerFactory(site=site), **kw)

    v1 = vehicle(warranty_end=dt.date(2027, 1, 1))
    v2 = vehicle()
    v3 = vehicle(warranty_end=dt.date(2026, 12, 31))
    v6 = vehicle()

    # --- appointments (day in the period unless noted) ---
    def appt(v, day, hour, status, hours, advisor=a1):
        start = local(3, day, hour)
        return Appointment.objects.create(
            site=site,
            customer=v.owner,
            vehicle=v,
            advisor=advisor,
            start=start,
            end=start + dt.timedelta(minutes=15),
            day=start.date(),
            estimated_hours=Decimal(hours),
            status=status,
        )

    ap1 = appt(v1, 2, 9, AppointmentStatus.ARRIVED, "3.0")
    ap2 = appt(v2, 2, 10, AppointmentStatus.ARRIVED, "2.0", advisor=a2)
    appt(v3, 3, 9, AppointmentStatus.NO_SHOW, "1.0")
    appt(v3, 4, 9, AppointmentStatus.CANCELLED, "1.5")
    appt(v6, 8, 9, AppointmentStatus.BOOKED, "1.5")
    appt(v6, 9, 9, AppointmentStatus.ARRIVED, "4.0")  # day after the period

    def ro(v, advisor, opened, **kw):
        return RepairOrderFactory(
            vehicle=v, advisor=advisor, opened_day=dt.date(2026, opened[0], opened[1]), **kw
        )

    def line(r, hours, labour, **kw):
        return JobLineFactory(
            repair_order=r,
            standard_hours=Decimal(hours),
            labour_amount=Decimal(labour),
            labour_rate=Decimal("180.00"),
            **kw,
        )

    def part(job, price):
        return PartLineFactory(job=job, unit_price=Decimal(price))

    done = JobLine.WorkStatus.DONE
    # R1: on time, first-pass QC, followed up, warranty
    r1 = ro(
        v1,
        a1,
        (3, 2),
        appointment=ap1,
        status=ROStatus.DELIVERED,
        promised_at=local(3, 3, 12),
        delivered_at=local(3, 3, 10),
        delivered_day=dt.date(2026, 3, 3),
        qc_passed_at=local(3, 3, 8),
        labour_total=Decimal("360"),
        parts_total=Decimal("200"),
    )
    l1 = line(r1, "2.0", "360", technician=t1, work_status=done, signed_off_at=local(3, 2, 16))
    part(l1, "120")
    part(l1, "80")
    # R2: late, QC failed once, additional work approved + declined, follow-up late
    r2 = ro(
        v2,
        a2,
        (3, 2),
        appointment=ap2,
        status=ROStatus.DELIVERED,
        promised_at=local(3, 4, 17),
        delivered_at=local(3, 5, 9),
        delivered_day=dt.date(2026, 3, 5),
        qc_fail_count=1,
        qc_passed_at=local(3, 4, 16),
        labour_total=Decimal("450"),
        parts_total=Decimal("100"),
    )
    l2 = line(r2, "1.5", "270", technician=t2, work_status=done, signed_off_at=local(3, 3, 11))
    l3 = line(r2, "1.0", "180", is_additional=True, approval=JobLine.Approval.APPROVED)
    part(l3, "100")
    l4 = line(
        r2,
        "0.5",
        "90",
        is_additional=True,
        approval=JobLine.Approval.DECLINED,
        description="Brake fluid",
    )
    part(l4, "60")
    # R3: no promised time, never QC'd, came back (R5), warranty but follow-up late
    r3 = ro(
        v3,
        a1,
        (3, 4),
        status=ROStatus.DELIVERED,
        delivered_at=local(3, 6, 11),
        delivered_day=dt.date(2026, 3, 6),
        labour_total=Decimal("180"),
    )
    l5 = line(r3, "1.0", "180", technician=t1, work_status=done, signed_off_at=local(3, 9, 0, 10))
    # R4: cancelled — not a car in
    ro(v6, a2, (3, 5), status=ROStatus.CANCELLED)
    # R5: the comeback of R3
    ro(v3, a1, (3, 7), status=ROStatus.IN_PROGRESS, comeback_of=r3)
    # R6: opened before, delivered 00:30 local on the first day (the previous day in UTC)
    r6 = ro(
        v6,
        a1,
        (2, 27),
        status=ROStatus.DELIVERED,
        promised_at=local(3, 2, 8),
        delivered_at=local(3, 2, 0, 30),
        delivered_day=dt.date(2026, 3, 2),
        qc_passed_at=local(3, 1, 20),
        labour_total=Decimal("90"),
        parts_total=Decimal("50"),
    )
    l6 = line(r6, "0.5", "90", technician=t2, work_status=done, signed_off_at=local(3, 1, 23))
    part(l6, "50")

    # first service: FV1 flagged done, FV2 came on R7 (首保 RO), FV5 due but not seen
    def sold(purchase, **kw):
        return vehicle(sold_by_site=True, purchase_date=purchase, service_interval_months=6, **kw)

    sold(dt.date(2025, 12, 3), first_service_done=True)  # FV1 due 03-03
    fv2 = sold(dt.date(2025, 12, 8))  # due 03-08
    sold(dt.date(2025, 12, 6))  # FV5 due 03-06
    sold(dt.date(2025, 12, 9))  # due 03-09: outside
    vehicle(sold_by_site=False, purchase_date=dt.date(2025, 9, 5))  # not sold here

    # R7: last day of the period, 首保, a proposed additional line
    r7 = ro(fv2, a2, (3, 8), status=ROStatus.AUTHORIZED, is_first_service=True)
    line(r7, "1.0", "180", is_additional=True, approval=JobLine.Approval.PROPOSED)
    # R8: the day after — R2's vehicle, the declined brake fluid done now
    r8 = ro(v2, a2, (3, 9), status=ROStatus.AUTHORIZED)
    line(r8, "0.5", "90", description="Brake fluid")

    # clock entries
    def clock(job, tech, start, hours):
        ClockEntry.objects.create(
            job=job,
            technician=tech,
            started_at=start,
            ended_at=start + dt.timedelta(hours=hours),
        )

    clock(l1, t1, local(3, 2, 9), 1.5)
    clock(l1, t1, local(3, 2, 13), 1.0)
    clock(l2, t2, local(3, 2, 14), 2.0)
    clock(l5, t1, local(3, 6, 14), 1.0)
    clock(l6, t2, local(3, 1, 22), 0.5)  # before the period (local)

    # follow-up calls
    def followup(r, due_from, due_until, completed, satisfaction, outcome=CallOutcome.REACHED):
        return call_task_create(
            site=site,
            kind=TaskKind.FOLLOWUP,
            source_key=f"ro:{r.pk}",
            customer=r.customer,
            vehicle=r.vehicle,
            repair_order=r,
            due_at=due_from,
            due_until=due_until,
            status=TaskStatus.DONE,
            assignee=agent,
            outcome=outcome,
            satisfaction=satisfaction,
            completed_at=completed,
        )

    followup(r1, local(3, 5, 9), local(3, 8, 20), local(3, 5, 10), 5)
    followup(r2, local(3, 7, 9), local(3, 8, 10), local(3, 8, 15), 2)
    followup(r6, local(3, 4, 9), local(3, 7, 20), local(3, 4, 11), 4)
    followup(r3, local(3, 7, 0), local(3, 8, 12), local(3, 9, 0, 30), 1)  # late, after period
    CallTask.objects.create(  # a reminder call: not a follow-up
        site=site,
        kind=TaskKind.REMINDER_DAY_BEFORE,
        source_key="appointment:x",
        customer=v1.owner,
        due_at=local(3, 3, 9),
        due_until=local(3, 3, 18),
        status=TaskStatus.DONE,
        outcome=CallOutcome.REACHED,
        satisfaction=1,
        completed_at=local(3, 3, 10),
    )

    # complaints
    def complaint(opened, respond_by, contacted=None, closed=None, status="open"):
        c = Complaint.objects.create(
            site=site,
            channel="followup_call",
            customer=r2.customer,
            repair_order=r2,
            description="noise",
            respond_by=respond_by,
            contacted_at=contacted,
            closed_at=closed,
            status=status,
        )
        Complaint.objects.filter(pk=c.pk).update(opened_at=opened)
        return c

    complaint(local(3, 3, 9), local(3, 4, 9), local(3, 3, 15), local(3, 5, 9), "closed")
    complaint(local(3, 6, 10), local(3, 7, 10))
    complaint(local(2, 20, 8), local(2, 21, 8), local(2, 22, 8), local(3, 7, 20), "closed")

    # retention (as of 2026-03-08): thresholds 3 / 6 / 9 months
    def customer(last, **kw):
        return CustomerFactory(site=site, last_delivery_at=last, **kw)

    customer(local(3, 1, 10))  # active
    customer(local(12, 9, 0, year=2025))  # active: exactly inside 3 months
    customer(local(12, 8, 23, year=2025))  # at risk
    customer(local(8, 1, year=2025))  # nearly lost
    keep = customer(local(1, 1, year=2025))  # lost
    customer(local(3, 1, 10), merged_into=keep)  # merged away: not counted
    customer(local(3, 10, 10))  # delivered after the as-of day: not counted

    # due this month (March 2026)
    vehicle(next_service_due_date=dt.date(2026, 3, 1))
    vehicle(next_service_due_date=dt.date(2026, 3, 31))
    vehicle(next_service_due_date=dt.date(2026, 4, 1))

    # another site's data in the period must never count
    v_other = VehicleFactory(owner=CustomerFactory(site=other))
    RepairOrderFactory(
        vehicle=v_other,
        opened_day=dt.date(2026, 3, 3),
        status=ROStatus.DELIVERED,
        delivered_day=dt.date(2026, 3, 4),
        delivered_at=local(3, 4, 12),
        labour_total=Decimal("999"),
    )

    # the repair orders above were written directly: store each vehicle's next service from
    # its history, as the nightly run does
    for each in (site, other):
        vehicle_estimates_refresh(site=each)

    return {
        "site": site,
        "other": other,
        "a1": a1,
        "a2": a2,
        "t1": t1,
        "t2": t2,
        "r1": r1,
        "r3": r3,
        "r6": r6,
        "l4": l4,
        "r8": r8,
    }
