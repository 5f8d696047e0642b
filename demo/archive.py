"""Demo archive: about 200 customers and their vehicles, with past visits.

Realistic Chinese names, Shanghai (and some Jiangsu/Zhejiang) plates including 8-character green
new-energy plates, VINs with correct check digits from real Chinese manufacturer codes. Past
visits are loaded as delivered repair orders numbered "H-…" (history imported from the previous
system) with lines, parts and follow-up results, so that the 3-6-9 retention buckets and the ABC
classes come out of the same rule the nightly task uses. Some vehicles are due this month.

Idempotent: customers are keyed by phone, vehicles by VIN, past visits by number; a second run
finds everything and changes nothing.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from customers import services
from customers.models import Customer, Vehicle
from customers.service_due import add_months
from customers.validators import vin_with_check_digit
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import JobLine, PartLine, RepairOrder, RepairOrderCallTask

N_CUSTOMERS = 200

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "建国",
    "志强",
    "海燕",
    "晓东",
    "丽娟",
    "文博",
    "子轩",
    "浩然",
    "梓涵",
    "欣怡",
    "雨桐",
    "思远",
    "嘉怡",
    "俊杰",
    "婷婷",
    "鹏",
    "晨",
    "昊",
    "琳",
    "倩",
    "宇航",
    "佳豪",
    "诗涵",
    "一鸣",
    "振华",
    "立新",
    "春梅",
    "玉兰",
]
COMPANIES = [
    "上海浦江物流有限公司",
    "上海东方建设工程有限公司",
    "苏州工业园区恒通租赁有限公司",
    "上海申城出租汽车有限公司",
    "上海新世纪餐饮管理有限公司",
    "嘉定区绿源环保科技有限公司",
    "上海联华配送中心",
    "浦东新区社区服务中心",
]
STREETS = [
    "张杨路",
    "世纪大道",
    "南京西路",
    "漕溪北路",
    "虹桥路",
    "长宁路",
    "曹安公路",
    "沪太路",
    "金科路",
    "博园路",
    "松江新城人民北路",
    "嘉定城中路",
    "闵行莘庄莘松路",
    "杨浦区国权路",
]
MOBILE_PREFIXES = [
    "137",
    "138",
    "139",
    "135",
    "136",
    "150",
    "151",
    "158",
    "159",
    "186",
    "188",
    "177",
]

# (make, model, WMI, VDS (5), plant, new energy?, colours)
MODELS = [
    ("大众", "朗逸", "LSV", "AM4AZ", "C", False),
    ("大众", "帕萨特", "LSV", "CA6B2", "N", False),
    ("大众", "途观L", "LSV", "UA6D4", "A", False),
    ("斯柯达", "明锐", "LSV", "FA4B5", "C", False),
    ("大众", "ID.4 X", "LSV", "UC6E9", "N", True),
    ("别克", "英朗", "LSG", "JR5L3", "S", False),
    ("别克", "GL8", "LSG", "UA8E2", "S", False),
    ("比亚迪", "秦PLUS DM-i", "LGX", "CE4C7", "X", True),
    ("比亚迪", "汉EV", "LGX", "C76E0", "S", True),
    ("特斯拉", "Model 3", "LRW", "3E7FA", "C", True),
    ("丰田", "凯美瑞", "LVG", "BV1AE", "G", False),
    ("本田", "雅阁", "LHG", "CV264", "G", False),
    ("日产", "轩逸", "LGB", "H52E6", "D", False),
    ("宝马", "3系", "LBV", "5Y390", "B", False),
]
COLOURS = ["白", "黑", "银", "灰", "蓝", "红", "珍珠白", "深灰"]
YEAR_CODES = {
    2015: "F",
    2016: "G",
    2017: "H",
    2018: "J",
    2019: "K",
    2020: "L",
    2021: "M",
    2022: "N",
    2023: "P",
    2024: "R",
    2025: "S",
    2026: "T",
}
PLATE_LETTERS = "ABDEFGHJKLMN"  # Shanghai district letters (C is Chongming-only, avoided)
SERVICES = [
    # description, hours, parts [(name, number, price)]
    (
        "常规保养（更换机油机滤）",
        "1.0",
        [("机油 5W-30 4L", "G052195M4", "380.00"), ("机油滤清器", "06L115562", "68.00")],
    ),
    ("更换空气滤清器", "0.3", [("空气滤清器", "5QD129620", "120.00")]),
    ("更换空调滤清器", "0.3", [("空调滤清器", "5QD819653", "95.00")]),
    ("更换前刹车片", "1.2", [("前刹车片", "5QD698151", "560.00")]),
    ("四轮定位", "1.0", []),
    ("更换火花塞", "0.8", [("火花塞 ×4", "04E905612", "320.00")]),
    ("更换刹车油", "0.8", [("刹车油 DOT4 1L", "B000750M3", "98.00")]),
    ("空调系统检查及加注冷媒", "1.0", [("R134a 冷媒", "G052164A2", "180.00")]),
    ("更换雨刮片", "0.2", [("雨刮片（对）", "5G1955425", "150.00")]),
    ("更换蓄电池", "0.5", [("蓄电池 60Ah", "000915105", "780.00")]),
    ("轮胎换位及动平衡", "0.8", []),
    ("三电系统检测（新能源）", "1.0", []),
]


def _rng(i: int) -> random.Random:
    return random.Random(f"dms-demo-archive-{i}")


def _name(i: int, rng: random.Random) -> tuple[str, str, str]:
    if i % 25 == 7:
        return COMPANIES[(i // 25) % len(COMPANIES)], "company", ""
    surname = SURNAMES[(i * 37) % len(SURNAMES)]
    if i % 41 == 3:
        surname = ["欧阳", "司马", "上官", "诸葛"][(i // 41) % 4]
    given = GIVEN[(i * 13 + rng.randrange(len(GIVEN))) % len(GIVEN)]
    return surname + given, "person", "mr" if rng.random() < 0.55 else "ms"


def _phone(i: int) -> str:
    prefix = MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)]
    return f"+86{prefix}{(i * 7919 + 1234567) % 10**8:08d}"


def _plate(i: int, k: int, green: bool, rng: random.Random) -> str:
    if i % 17 == 5 and not green:  # a few from the neighbouring provinces
        province, letter = ("苏", "E") if i % 2 else ("浙", "A")
    else:
        province, letter = "沪", PLATE_LETTERS[(i + k) % len(PLATE_LETTERS)]
    serial = (i * 131 + k * 7 + 10007) % 100000
    if green:
        return f"{province}{letter}{'DF'[i % 2]}{serial % 10}{serial // 10 % 10000:04d}"
    tail = f"{serial:05d}"
    if rng.random() < 0.3:  # many ordinary plates mix in a letter
        pos = rng.randrange(5)
        tail = tail[:pos] + "ABCDEFGHJKLMNPQRSTUVWXYZ"[rng.randrange(24)] + tail[pos + 1 :]
    return f"{province}{letter}{tail}"


def _vin(i: int, k: int, wmi: str, vds: str, year: int, plant: str) -> str:
    serial = f"{(i * 9 + k) * 1013 + 100000:06d}"[-6:]
    body = f"{wmi}{vds}0{YEAR_CODES[year]}{plant}{serial}"
    return vin_with_check_digit(body)


# (share, days since the last delivery range, visits in the last 12 months)
PROFILES = [
    ("A_active", 0.12, (5, 80), 3),  # ≥3 visits → class A, active
    ("B_active", 0.26, (10, 85), 1),
    ("B_active2", 0.08, (15, 80), 2),
    ("at_risk", 0.16, (95, 175), 1),
    ("nearly_lost", 0.13, (185, 265), 1),
    ("lost", 0.15, (280, 700), 0),
    ("new", 0.10, None, 0),
]


def _profile(i: int) -> tuple:
    x = (i * 0.6180339887) % 1  # spread evenly, deterministic
    acc = 0.0
    for p in PROFILES:
        acc += p[1]
        if x < acc:
            return p
    return PROFILES[-1]


def load(*, site, users) -> None:
    actor = users.get("advisor") or users.get("manager")
    advisors = [u for u in (users.get("advisor"), users.get("advisor2")) if u]
    techs = [u for u in (users.get("tech"), users.get("tech2")) if u]
    today = timezone.localdate(timezone=site.tzinfo)
    customers = {c.phone: c for c in Customer.objects.filter(site=site)}
    known_vins = set(Vehicle.objects.filter(site=site).values_list("vin", flat=True))
    history: list[tuple] = []
    for i in range(N_CUSTOMERS):
        rng = _rng(i)
        phone = _phone(i)
        customer = customers.get(phone)
        if customer is None:
            name, kind, title = _name(i, rng)
            customer = services.customer_create(
                site=site,
                actor=actor,
                name=name,
                kind=kind,
                title=title,
                phone=phone,
                address=f"上海市{STREETS[i % len(STREETS)]}{rng.randrange(1, 999)}号",
                preferred_channel="sms" if i % 5 == 0 else "call",
                preferred_contact_time=["", "工作日晚上", "周末上午", "中午12点到1点"][i % 4],
                consent_marketing=i % 3 != 0,
                consent_sms=i % 19 != 0,
                birthday=date(1960 + i % 40, 1 + i % 12, 1 + i % 28) if kind == "person" else None,
                board_display=["surname", "full", "plate"][i % 3] if kind == "person" else "full",
                notes="老客户，喜欢提前预约" if i % 23 == 0 else "",
            )
        n_vehicles = 2 if i % 9 == 4 else 1
        for k in range(n_vehicles):
            made = _load_vehicle(site, customer, i, k, rng, actor, today, known_vins)
            if made:
                history.append(made)
    _load_history(site, history, advisors, techs)
    services.segments_recompute(site=site, today=today)
    services.vehicle_estimates_refresh(site=site)  # the past visits were written in bulk


def _load_vehicle(site, customer, i, k, rng, actor, today, known_vins) -> tuple | None:
    make, model, wmi, vds, plant, green = MODELS[(i * 5 + k * 3) % len(MODELS)]
    year = 2016 + (i + k * 3) % 10
    vin = _vin(i, k, wmi, vds, year, plant)  # the identity: never depends on today
    if vin in known_vins:
        return None
    profile = _profile(i * 2 + k)
    purchase = date(year, 1 + (i % 12), 1 + (i % 27))
    if profile[0] == "new":  # bought recently (often elsewhere); first visit still ahead
        purchase = today - timedelta(days=30 + rng.randrange(270))
        year = purchase.year
    if purchase > today:
        purchase = today - timedelta(days=200)
    km_per_day = 25 + rng.randrange(45)
    visits = _visit_days(profile, rng, today, purchase)
    interval_km, interval_months = (7500, 12) if green else (10000, 6)
    last = visits[-1] if visits else today
    mileage = int(km_per_day * (last - purchase).days)
    # next service: the interval after the last visit; some fall due this month
    due_date = _add_months(visits[-1] if visits else purchase, interval_months)
    if i % 12 == 0:
        due_date = today.replace(day=min(28, 3 + (i % 25)))  # due this month by date
    due_km = mileage + interval_km
    if i % 12 == 6:  # a high-mileage driver: due this month by km
        due_km = mileage + max(500, int(km_per_day * ((today - last).days + 10)))
        due_date = _add_months(today, 3)
    vehicle = services.vehicle_create(
        site=site,
        owner=customer,
        actor=actor,
        vin=vin,
        plate=_plate(i, k, green, rng),
        engine_number=f"{wmi[1:]}{rng.randrange(10**7):07d}",
        make=make,
        model=model,
        year=year,
        colour=COLOURS[(i + k) % len(COLOURS)],
        purchase_date=purchase,
        sold_by_site=i % 3 != 1,
        warranty_end=date(purchase.year + 3, purchase.month, min(purchase.day, 28)),
        mileage_km=mileage,
        mileage_read_at=last,
        service_interval_km=interval_km,
        service_interval_months=interval_months,
        next_service_due_date=due_date,
        next_service_due_km=due_km,
        insurance_renewal_date=_next_anniversary(purchase, today),
        annual_inspection_date=(
            _next_anniversary(purchase, today) if year <= today.year - 6 else None
        ),
        first_service_done=bool(visits),
    )
    known_vins.add(vin)
    return (vehicle, customer, visits, km_per_day, purchase, rng)


def _visit_days(profile, rng, today, purchase) -> list[date]:
    """Delivery days of past visits, oldest first, matching the customer's profile."""
    _key, _share, last_range, recent = profile
    if last_range is None:
        return []
    last = today - timedelta(days=rng.randrange(*last_range))
    days = [last]
    for n in range(1, recent):
        days.append(last - timedelta(days=int(n * 95 + rng.randrange(20))))
    # older visits beyond the 12 months (history only)
    older = last - timedelta(days=380)
    for _ in range(rng.randrange(0, 3)):
        if older <= purchase:
            break
        days.append(older)
        older -= timedelta(days=180 + rng.randrange(40))
    return sorted(d for d in days if d > purchase)


def _next_anniversary(day: date, today: date) -> date:
    candidate = date(today.year, day.month, min(day.day, 28))
    return candidate if candidate >= today else date(today.year + 1, day.month, min(day.day, 28))


def _add_months(day: date, months: int) -> date:
    return add_months(day, months)


def _load_history(site, specs, advisors, techs) -> None:
    """Past visits as delivered repair orders ("H-…") with lines, parts and follow-up results,
    written in bulk (a few queries for the whole demo, not a dozen per visit)."""
    if not specs or not advisors:
        return

    tz = site.tzinfo
    taken = set(
        RepairOrder.objects.filter(site=site, number__startswith="H-").values_list(
            "number", flat=True
        )
    )
    ros, plans, last_visit = [], [], []
    for vehicle, customer, visits, km_per_day, purchase, rng in specs:
        for n, day in enumerate(visits):
            number = f"H-{day:%Y}-{vehicle.pk:05d}{n:02d}"
            if number in taken:
                continue
            opened = datetime.combine(day, time(9, rng.randrange(0, 50)), tzinfo=tz)
            delivered = opened + timedelta(hours=3 + rng.randrange(5))
            picks = [SERVICES[0], *rng.sample(SERVICES[1:], rng.randrange(0, 3))]
            labour = sum(
                (Decimal(h) * site.labour_rate).quantize(Decimal("0.01")) for _d, h, _p in picks
            )
            parts = sum(Decimal(price) for _d, _h, pl in picks for _n, _no, price in pl)
            tax = ((labour + parts) * site.tax_rate).quantize(Decimal("0.01"))
            ros.append(
                RepairOrder(
                    site=site,
                    number=number,
                    customer=customer,
                    vehicle=vehicle,
                    advisor=advisors[n % len(advisors)],
                    status="delivered",
                    is_first_service=n == 0 and (day - purchase).days < 240,
                    concern="定期保养" if n % 2 == 0 else "保养，顺便检查异响",
                    odometer_km=int(km_per_day * (day - purchase).days),
                    opened_day=day,
                    promised_at=opened + timedelta(hours=8),
                    first_promised_at=opened + timedelta(hours=8),
                    authorized_at=opened + timedelta(minutes=15),
                    work_done_at=delivered - timedelta(hours=1),
                    qc_passed_at=delivered - timedelta(minutes=40),
                    ready_at=delivered - timedelta(minutes=20),
                    invoiced_at=delivered - timedelta(minutes=10),
                    delivered_at=delivered,
                    delivered_day=day,
                    labour_total=labour,
                    parts_total=parts,
                    tax_total=tax,
                    grand_total=labour + parts + tax,
                )
            )
            plans.append((opened, delivered, picks, n, rng.random()))
        if visits:
            last_visit.append((vehicle, datetime.combine(max(visits), time(15, 0), tzinfo=tz)))
    if not ros:
        return
    RepairOrder.objects.bulk_create(ros)  # Postgres and SQLite ≥ 3.35 return the ids
    for ro, (opened, _d, _p, _n, _s) in zip(ros, plans, strict=True):
        ro.opened_at = opened  # auto_now_add on create; the visit's real time afterwards
    RepairOrder.objects.bulk_update(ros, ["opened_at"], batch_size=500)
    jobs, job_parts, calls = [], [], []
    for ro, (_opened, delivered, picks, n, mood) in zip(ros, plans, strict=True):
        for pos, (desc, hours, part_list) in enumerate(picks):
            hours = Decimal(hours)
            jobs.append(
                JobLine(
                    repair_order=ro,
                    position=pos,
                    description=desc,
                    standard_hours=hours,
                    labour_rate=site.labour_rate,
                    labour_amount=(hours * site.labour_rate).quantize(Decimal("0.01")),
                    work_status="done",
                    technician=techs[(n + pos) % len(techs)] if techs else None,
                    actual_hours=hours,
                    signed_off_at=delivered - timedelta(hours=1),
                )
            )
            job_parts.append(part_list)
        reached = mood > 0.08
        calls.append(
            CallTask(
                site=site,
                kind=TaskKind.FOLLOWUP,
                source_key=f"ro:{ro.pk}",
                customer_id=ro.customer_id,
                vehicle_id=ro.vehicle_id,
                due_at=delivered + timedelta(days=2),
                due_until=delivered + timedelta(days=5),
                status=TaskStatus.DONE if reached else TaskStatus.UNREACHABLE,
                outcome="reached" if reached else "no_answer",  # as the engine records it
                satisfaction=(5 if mood > 0.35 else 4) if reached else None,
                comments="服务很好，车开着很顺" if mood > 0.6 else "",
                attempts=1 if reached else 3,
                completed_at=delivered + timedelta(days=2 + int(mood * 3)),
                data={"advisor_id": ro.advisor_id},
            )
        )
    JobLine.objects.bulk_create(jobs)
    PartLine.objects.bulk_create(
        [
            PartLine(job=job, name=name, part_number=number, unit_price=Decimal(price))
            for job, part_list in zip(jobs, job_parts, strict=True)
            for name, number, price in part_list
        ]
    )
    CallTask.objects.bulk_create(calls, ignore_conflicts=True)
    # each follow-up linked to its visit (ids read back: ignore_conflicts returns none)
    ro_of_key = {f"ro:{ro.pk}": ro.pk for ro in ros}
    RepairOrderCallTask.objects.bulk_create(
        [
            RepairOrderCallTask(task_id=task_id, repair_order_id=ro_of_key[key])
            for task_id, key in CallTask.objects.filter(
                kind=TaskKind.FOLLOWUP, source_key__in=list(ro_of_key)
            ).values_list("id", "source_key")
        ],
        ignore_conflicts=True,
    )
    for vehicle, at in last_visit:
        vehicle.last_visit_at = at
    Vehicle.objects.bulk_update([v for v, _at in last_visit], ["last_visit_at"], batch_size=500)
