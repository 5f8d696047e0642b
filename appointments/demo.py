"""Demo appointments: the service menu, today's and the next days' bookings (one day full,
buffers used for urgent cases, reminder calls due), made through the booking services.

Idempotent: once the site has demo bookings, a second run changes nothing.
"""

import itertools
from datetime import datetime, time, timedelta
from decimal import Decimal

from . import selectors, services
from .models import Appointment, ServiceOffering

MENU = [
    # code, name, hours, parts
    (
        "oil_service",
        "常规保养（机油+机滤）",
        "1.0",
        [
            {"part_number": "SP-0W20-4L", "name": "全合成机油 0W-20 4L", "quantity": 1},
            {"part_number": "06L115562B", "name": "机油滤清器", "quantity": 1},
        ],
    ),
    (
        "first_service",
        "首保（7500 km）",
        "1.0",
        [{"part_number": "06L115562B", "name": "机油滤清器", "quantity": 1}],
    ),
    (
        "major_service",
        "大保养（含空滤、空调滤、火花塞）",
        "2.5",
        [
            {"part_number": "SP-0W20-4L", "name": "全合成机油 0W-20 4L", "quantity": 1},
            {"part_number": "06L115562B", "name": "机油滤清器", "quantity": 1},
            {"part_number": "5Q0129620D", "name": "空气滤清器", "quantity": 1},
            {"part_number": "5Q0819653", "name": "空调滤清器", "quantity": 1},
            {"part_number": "04E905612C", "name": "火花塞", "quantity": 4},
        ],
    ),
    (
        "brake_pads",
        "前刹车片更换",
        "1.5",
        [{"part_number": "5Q0698151B", "name": "前刹车片（套）", "quantity": 1}],
    ),
    ("alignment", "四轮定位", "1.0", []),
    (
        "ac_check",
        "空调检查与加氟",
        "0.5",
        [{"part_number": "R1234YF", "name": "冷媒 R1234yf", "quantity": 1}],
    ),
    ("diagnosis", "故障诊断（异响/灯亮）", "1.0", []),
]

DEMO_CUSTOMERS = [
    ("王建国", "mr", "surname"),
    ("李秀英", "ms", "surname"),
    ("张伟", "mr", "full"),
    ("刘芳", "ms", "plate"),
    ("陈磊", "mr", "surname"),
    ("杨静", "ms", "surname"),
    ("赵强", "mr", "surname"),
    ("黄敏", "ms", "full"),
    ("周杰", "mr", "surname"),
    ("吴婷", "ms", "surname"),
    ("徐涛", "mr", "plate"),
    ("孙丽", "ms", "surname"),
    ("马超", "mr", "surname"),
    ("朱红", "ms", "surname"),
    ("胡军", "mr", "surname"),
    ("郭燕", "ms", "full"),
    ("林峰", "mr", "surname"),
    ("何洁", "ms", "surname"),
    ("高翔", "mr", "surname"),
    ("罗敏", "ms", "surname"),
    ("郑浩", "mr", "surname"),
    ("梁雪", "ms", "surname"),
    ("谢鹏", "mr", "surname"),
    ("宋佳", "ms", "surname"),
    ("唐亮", "mr", "surname"),
    ("韩梅", "ms", "surname"),
    ("冯刚", "mr", "surname"),
    ("邓琳", "ms", "surname"),
    ("曹阳", "mr", "surname"),
    ("彭丹", "ms", "surname"),
    ("欧阳明", "mr", "surname"),
    ("上海申通物流有限公司", "", "full"),
]
MODELS = [("Volkswagen", "Lavida"), ("Volkswagen", "Tiguan L"), ("Skoda", "Octavia")]


def _vehicles(site, actor, needed: int) -> list:
    from customers.models import Customer, Vehicle

    have = list(Vehicle.objects.filter(site=site).select_related("owner").order_by("id"))
    if len(have) >= needed:
        return have
    from customers import services as customer_services
    from customers.validators import vin_with_check_digit

    for i, (name, title, display) in enumerate(DEMO_CUSTOMERS):
        phone = f"+8613900{i:06d}"
        customer = Customer.objects.filter(site=site, phone=phone).first()
        if customer is None:
            customer = customer_services.customer_create(
                site=site,
                actor=actor,
                name=name,
                title=title,
                kind="company" if not title else "person",
                phone=phone,
                board_display=display,
            )
        make, model = MODELS[i % len(MODELS)]
        vin = vin_with_check_digit(f"LSVDM6A0X{i:08d}")
        if not Vehicle.objects.filter(site=site, vin=vin).exists():
            customer_services.vehicle_create(
                site=site,
                owner=customer,
                actor=actor,
                vin=vin,
                plate=f"沪B{7000 + i * 37:05d}",
                make=make,
                model=model,
                year=2019 + i % 6,
                mileage_km=8000 + i * 3100,
            )
    return list(Vehicle.objects.filter(site=site).select_related("owner").order_by("id"))


def _open_days(site, start, n: int) -> list:
    days, day = [], start
    while len(days) < n:
        if selectors.opening_of(site, day) is not None:
            days.append(day)
        day += timedelta(days=1)
    return days


def load(*, site, users) -> None:
    if Appointment.objects.filter(site=site).exists():
        return  # already loaded: running twice changes nothing
    advisor, advisor2 = users["advisor"], users["advisor2"]
    agent = users.get("agent", advisor)
    for position, (code, name, hours, parts) in enumerate(MENU):
        ServiceOffering.objects.get_or_create(
            site=site,
            code=code,
            defaults={
                "name": name,
                "standard_hours": Decimal(hours),
                "parts": parts,
                "position": position,
            },
        )
    vehicles = _vehicles(site, advisor, 45)
    if not vehicles:
        return
    tz = site.tzinfo
    today = selectors.local_today(site)
    clock = datetime.combine(today, time(0, 0), tzinfo=tz)  # book as if at midnight today
    pool = itertools.cycle(vehicles)
    codes = [m[0] for m in MENU]

    def book(day, hh, mm, *, who=None, services_=(), hours=None, **kw):
        vehicle = next(pool)
        start = datetime.combine(day, time(hh, mm), tzinfo=tz)
        try:
            return services.appointment_book(
                site=site,
                customer=vehicle.owner,
                vehicle=vehicle,
                start=start,
                actor=kw.pop("actor", advisor),
                advisor=who,
                estimated_hours=hours,
                services=services_,
                now=clock,
                **kw,
            )
        except services.ApplicationError:
            return None  # a closed hour on a short day: skip it

    days = _open_days(site, today, 5)
    # today: a normal day with two buffer slots used for urgent cases
    if selectors.opening_of(site, today) is not None:
        for i, (hh, mm) in enumerate(
            [
                (9, 0),
                (9, 15),
                (9, 30),
                (10, 0),
                (10, 30),
                (11, 0),
                (13, 0),
                (14, 15),
                (15, 0),
                (16, 0),
            ]
        ):
            book(
                today, hh, mm, who=advisor if i % 2 else advisor2, services_=[codes[i % len(codes)]]
            )
        book(
            today,
            10,
            45,
            who=advisor,
            hours="1.5",
            override_reason="仪表故障灯亮，急修",
            services_=["diagnosis"],
        )
        book(
            today,
            14,
            45,
            who=advisor2,
            hours="0.5",
            override_reason="老客户临时来店",
            services_=["ac_check"],
            channel="walk_in",
        )
        book(
            today,
            11,
            15,
            who=advisor2,
            services_=["oil_service"],
            source="proactive",
            actor=agent,
            channel="call_centre",
        )
    # the next open day: a busy day with proactive bookings (reminders due today)
    nxt = days[1] if days and days[0] == today else days[0]
    for i, (hh, mm) in enumerate(
        [(9, 0), (9, 0), (9, 30), (10, 15), (11, 0), (13, 30), (14, 0), (15, 15)]
    ):
        book(
            nxt,
            hh,
            mm,
            services_=[codes[(i + 2) % len(codes)]],
            source="proactive" if i % 3 == 0 else "customer",
        )
    # a full day: every bookable workshop hour taken
    full = days[2] if len(days) > 2 else nxt
    capacity = site.daily_bookable_hours
    left = capacity
    slot = 0
    grid = [s for s in selectors.slot_grid(site, full) if not s.is_buffer]
    while left > 0 and slot < len(grid) * 2:
        hours = min(Decimal("3.0"), left)
        start = grid[slot // 2].start
        if (
            book(
                full,
                start.hour,
                start.minute,
                who=advisor if slot % 2 else advisor2,
                hours=str(hours),
                services_=["major_service"],
            )
            is not None
        ):
            left -= hours
        slot += 1
    # a lighter day after
    if len(days) > 3:
        for hh, mm in [(9, 15), (13, 0), (15, 30)]:
            book(days[3], hh, mm, services_=["brake_pads"])
    # confirm a few (reminder calls reached the customer)
    for appointment in Appointment.objects.filter(site=site, day=nxt).order_by("start")[:3]:
        services.appointment_confirm(appointment_id=appointment.pk, actor=agent)
    # today's customers whose slot has begun came in (one is late: the no-show sweeper's case)
    from django.utils import timezone

    begun = Appointment.objects.filter(
        site=site, day=today, start__lte=timezone.now(), status__in=["booked", "confirmed"]
    ).order_by("start")
    for appointment in list(begun)[1:]:
        services.appointment_check_in(appointment_id=appointment.pk, actor=appointment.advisor)
