from decimal import Decimal

import factory
from django.utils import timezone

from customers.tests.factories import VehicleFactory
from dms.models import Role
from dms.tests.factories import make_staff
from workorders.models import JobLine, PartLine, RepairOrder


class RepairOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RepairOrder

    vehicle = factory.SubFactory(VehicleFactory)
    site = factory.SelfAttribute("vehicle.site")
    customer = factory.SelfAttribute("vehicle.owner")
    advisor = factory.LazyAttribute(lambda o: make_staff(role=Role.ADVISOR, site=o.site))
    number = factory.Sequence(lambda n: f"RO-2026-{n:06d}")
    opened_day = factory.LazyFunction(timezone.localdate)


class JobLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobLine

    repair_order = factory.SubFactory(RepairOrderFactory)
    description = factory.Sequence(lambda n: f"Operation {n}")
    standard_hours = Decimal("1.00")
    labour_rate = factory.LazyAttribute(lambda o: o.repair_order.site.labour_rate)
    labour_amount = factory.LazyAttribute(
        lambda o: (o.standard_hours * o.labour_rate).quantize(Decimal("0.01"))
    )


class PartLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartLine

    job = factory.SubFactory(JobLineFactory)
    name = "Oil filter"
    quantity = Decimal("1")
    unit_price = Decimal("85.00")


# --- driving a real RO through the services to a given state -------------------------------
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


def staff_for(site):
    """An advisor, a technician and a QC inspector of `site`."""
    return {
        "advisor": make_staff(role=Role.ADVISOR, site=site),
        "tech": make_staff(role=Role.TECHNICIAN, site=site),
        "qc": make_staff(role=Role.QC_INSPECTOR, site=site),
    }


def ro_in_state(state: str, *, site=None, vehicle=None, staff=None, hours="1.5"):
    """Open an RO through the services and move it to `state` the way people would."""
    from datetime import timedelta

    from workorders import services as s
    from workorders.models import ROStatus as S

    if vehicle is None:
        vehicle = VehicleFactory(**({"owner__site": site} if site else {}))
    site = vehicle.site
    staff = staff or staff_for(site)
    adv, tech, qc = staff["advisor"], staff["tech"], staff["qc"]
    ro = s.repair_order_open(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=adv,
        actor=adv,
        concern="Noise from the front when braking",
        odometer_km=vehicle.mileage_km + 5000,
    )
    s.intake_record(
        repair_order_id=ro.pk,
        actor=adv,
        covers_fitted=True,
        vin_read=vehicle.vin,
        odometer_km=vehicle.mileage_km + 5000,
        fuel_level="1/2",
        underbody_checked=True,
    )
    s.job_line_add(
        repair_order_id=ro.pk,
        actor=adv,
        description="Replace front brake pads",
        standard_hours=hours,
        parts=[{"name": "Brake pad set", "quantity": 1, "unit_price": "420.00"}],
    )
    if state == S.DRAFT:
        return RepairOrder.objects.get(pk=ro.pk)
    if state == S.CANCELLED:
        return s.ro_cancel(repair_order_id=ro.pk, actor=adv, reason="Customer changed plans")
    s.ro_authorize(
        repair_order_id=ro.pk,
        actor=adv,
        channel="signature",
        signature=PNG_1PX,
        promised_at=timezone.now() + timedelta(hours=6),
    )
    if state == S.AUTHORIZED:
        return RepairOrder.objects.get(pk=ro.pk)
    if state == S.WAITING_PARTS:
        return s.ro_wait_parts(repair_order_id=ro.pk, actor=tech, part="Brake pad set")
    s.ro_start(repair_order_id=ro.pk, actor=tech)
    if state == S.IN_PROGRESS:
        return RepairOrder.objects.get(pk=ro.pk)
    if state == S.WAITING_APPROVAL:
        s.job_propose_additional(
            repair_order_id=ro.pk,
            actor=tech,
            description="Replace brake fluid",
            standard_hours="0.5",
            parts=[{"name": "DOT4 fluid", "quantity": 1, "unit_price": "60"}],
        )
        return RepairOrder.objects.get(pk=ro.pk)
    JobLine.objects.filter(repair_order=ro).update(work_status=JobLine.WorkStatus.DONE)
    s.ro_complete_work(repair_order_id=ro.pk, actor=tech)
    if state == S.WORK_DONE:
        return RepairOrder.objects.get(pk=ro.pk)
    if state == S.QC:
        return s.ro_qc_start(repair_order_id=ro.pk, actor=qc)
    if state == S.REWORK:
        return s.ro_qc_fail(repair_order_id=ro.pk, actor=qc, reason="Brake squeal remains")
    s.ro_qc_pass(repair_order_id=ro.pk, actor=qc, checklist=QC_ALL)
    if state == S.WASHING:
        return RepairOrder.objects.get(pk=ro.pk)
    s.ro_wash_done(repair_order_id=ro.pk, actor=tech)
    s.ro_final_check(repair_order_id=ro.pk, actor=adv, checklist=FINAL_ALL)
    if state == S.READY:
        return RepairOrder.objects.get(pk=ro.pk)
    s.ro_invoice(repair_order_id=ro.pk, actor=adv)
    if state == S.INVOICED:
        return RepairOrder.objects.get(pk=ro.pk)
    return s.ro_deliver(
        repair_order_id=ro.pk, actor=adv, payment_method="wechat", handover=HANDOVER_ALL
    )


QC_ALL = dict.fromkeys(
    ["road_test", "steering", "brakes", "lines_checked", "nothing_missing"], True
)
FINAL_ALL = dict.fromkeys(["lines_done", "car_clean", "belongings"], True)
HANDOVER_ALL = dict.fromkeys(
    [
        "work_explained",
        "bill_explained",
        "old_parts_offered",
        "usage_advice",
        "next_service_told",
        "covers_removed",
    ],
    True,
)


def call_task_create(*, repair_order=None, appointment=None, **fields):
    """A call task row as `CallTask.objects.create(**fields)`, linked to the repair order and
    the appointment it is about (the apps' link tables: the engine's row names neither). A
    task about a repair order carries its advisor, as the services write it."""
    from appointments.models import AppointmentCallTask
    from outreach.models import CallTask

    from ..models import RepairOrderCallTask

    if repair_order is not None:
        fields["data"] = {"advisor_id": repair_order.advisor_id, **fields.get("data", {})}
    task = CallTask.objects.create(**fields)
    if repair_order is not None:
        RepairOrderCallTask.objects.create(task=task, repair_order=repair_order)
    if appointment is not None:
        AppointmentCallTask.objects.create(task=task, appointment=appointment)
    return task
