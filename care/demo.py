"""Demo data for proactive care: the rules, a few customers each rule reaches today, and one
run of the rules. Idempotent: loading it twice (the same day) changes nothing."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.utils import timezone

from customers import service_due
from customers import services as archive
from customers.models import Customer, Vehicle
from customers.validators import vin_with_check_digit
from workorders.models import JobLine, PartLine, RepairOrder, ROStatus

from . import services
from .models import ReminderRun, RuleKind


def _vin(n: int) -> str:
    return vin_with_check_digit(f"LFVCARE0X{n:08d}")


def _customer(site, manager, *, phone, name, **fields) -> Customer:
    found = Customer.objects.filter(site=site, phone=phone).first()
    if found:
        return found
    return archive.customer_create(site=site, actor=manager, name=name, phone=phone, **fields)


def _vehicle(site, owner, manager, *, n, plate, **fields) -> Vehicle:
    vin = _vin(n)
    found = Vehicle.objects.filter(site=site, vin=vin).first()
    if found:
        return found
    if Vehicle.objects.filter(site=site, plate=plate).exists():
        plate = ""  # another demo already uses this plate: keep the VIN only
    return archive.vehicle_create(
        site=site, owner=owner, actor=manager, vin=vin, plate=plate, **fields
    )


def load(*, site, users) -> None:
    manager = users["manager"]
    # the manager may edit the rules in the Django admin
    manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="care"))
    rules = {r.kind: r for r in services.rules_ensure(site=site)}
    today = timezone.localdate(timezone=site.tzinfo)
    month_day = today.replace(day=min(today.day + 5, 28))

    # due this month by date (shows on the due list; the rule calls 14 days ahead)
    for n, (name, plate, due) in enumerate(
        [
            ("赵敏", "沪AXC001", month_day),
            ("钱进", "沪AXC002", today + timedelta(days=rules[RuleKind.MAINTENANCE_DUE].lead_days)),
            ("郑强", "沪AXC003", month_day),
        ],
        start=1,
    ):
        owner = _customer(
            site,
            manager,
            phone=f"+8613998{n:06d}",
            name=name,
            title="mr",
            **(
                {"consent_call": False, "consent_sms": False, "consent_email": False}
                if name == "郑强"
                else {}
            ),
        )
        _vehicle(
            site,
            owner,
            manager,
            n=n,
            plate=plate,
            make="大众",
            model="朗逸",
            year=2022,
            mileage_km=30000 + n * 1000,
            mileage_read_at=today - timedelta(days=60),
            next_service_due_date=due,
        )

    # new cars sold here: one due for its first service soon, one overdue, one that came
    for n, (name, plate, days_ago, came) in enumerate(
        [
            ("孙丽", "沪AXN001", 80, False),
            ("李娟", "沪AXN002", 150, False),
            ("周凯", "沪AXN003", 120, True),
        ],
        start=11,
    ):
        owner = _customer(site, manager, phone=f"+8613998{n:06d}", name=name, title="ms")
        vehicle = _vehicle(
            site,
            owner,
            manager,
            n=n,
            plate=plate,
            make="大众",
            model="ID.4",
            year=today.year,
            purchase_date=today - timedelta(days=days_ago),
            sold_by_site=True,
        )
        if came and not RepairOrder.objects.filter(vehicle=vehicle, is_first_service=True).exists():
            opened = today - timedelta(days=20)
            RepairOrder.objects.create(
                site=site,
                number=f"DEMO-CARE-FS-{vehicle.pk}",
                customer=owner,
                vehicle=vehicle,
                advisor=users["advisor"],
                status=ROStatus.DELIVERED,
                is_first_service=True,
                odometer_km=4200,
                opened_day=opened,
                delivered_day=opened,
                delivered_at=datetime.combine(opened, time(16), tzinfo=site.tzinfo),
                concern="首保",
            )

    # insurance renewal on the lead day; annual inspection; licence review
    owner = _customer(site, manager, phone="+8613998000021", name="吴芳", title="ms")
    _vehicle(
        site,
        owner,
        manager,
        n=21,
        plate="沪AXR001",
        make="丰田",
        model="卡罗拉",
        insurance_renewal_date=today + timedelta(days=rules[RuleKind.INSURANCE_RENEWAL].lead_days),
    )

    # declined work from a visit a month ago
    owner = _customer(site, manager, phone="+8613998000031", name="冯刚", title="mr")
    vehicle = _vehicle(
        site, owner, manager, n=31, plate="沪AXD001", make="本田", model="雅阁", mileage_km=52000
    )
    delivered = today - timedelta(days=rules[RuleKind.DECLINED_WORK].lead_days)
    ro, created = RepairOrder.objects.get_or_create(
        site=site,
        number="DEMO-CARE-DW-1",
        defaults={
            "customer": owner,
            "vehicle": vehicle,
            "advisor": users["advisor"],
            "status": ROStatus.DELIVERED,
            "odometer_km": 52000,
            "opened_day": delivered,
            "delivered_day": delivered,
            "delivered_at": datetime.combine(delivered, time(16), tzinfo=site.tzinfo),
            "concern": "常规保养",
        },
    )
    if created:
        line = JobLine.objects.create(
            repair_order=ro,
            description="更换前刹车片",
            standard_hours=Decimal("1.5"),
            labour_rate=site.labour_rate,
            labour_amount=(Decimal("1.5") * site.labour_rate).quantize(Decimal("0.01")),
            is_additional=True,
            approval=JobLine.Approval.DECLINED,
            declined_reason="客户表示下次再换",
        )
        PartLine.objects.create(job=line, name="前刹车片", unit_price=Decimal("420.00"))

    # a customer entering "at risk" today (last visit three months ago), marketing allowed
    owner = _customer(
        site, manager, phone="+8613998000041", name="陈晨", title="mr", consent_marketing=True
    )
    _vehicle(site, owner, manager, n=41, plate="沪AXW001", make="别克", model="英朗")
    last = service_due.add_months(today, -site.retention_at_risk_months)
    Customer.objects.filter(pk=owner.pk, last_delivery_at__isnull=True).update(
        last_delivery_at=datetime.combine(last, time(15), tzinfo=site.tzinfo)
    )

    # the repair orders above were written directly: the vehicles' stored due dates follow them
    archive.vehicle_estimates_refresh(site=site)

    # tonight's run, once a day
    if not ReminderRun.objects.filter(site=site, day=today).exists():
        services.run_reminder_rules(site=site, today=today)
