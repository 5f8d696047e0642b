"""Demo repair orders in every state, driven through the services: one with a QC failure and
rework, one awaiting approval with a working private link and a photo, delivered ones with next
service dates, a possible comeback.

Idempotent: the demo vehicles are found by VIN; once they have repair orders nothing changes.
"""

from datetime import timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from customers.models import Customer, Vehicle

from . import services as s
from .models import JobLine, RepairOrder
from .models import ROStatus as S

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]

# a tiny PNG (the finding's photo; a real one comes from the technician's tablet)
PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
    "53de0000000c4944415478da63f8cfc0f01f0005fe02fea7d6a0ce0000000049454e44ae426082"
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

# target state, customer, plate, model, concern, job, hours, parts
DEMO_ROS = [
    (S.DRAFT, "钱进", "沪AR1001", "朗逸", "仪表盘机油灯亮", "常规保养（机油+机滤）", "1.0",
     [("全合成机油 0W-20 4L", "1", "398.00"), ("机油滤清器", "1", "58.00")]),
    (S.AUTHORIZED, "孙悦", "沪AR1002", "帕萨特", "冷车启动有异响", "故障诊断（异响）", "1.0", []),
    (S.IN_PROGRESS, "周丽", "沪AR1003", "途观L", "大保养", "大保养（含空滤、空调滤、火花塞）", "2.5",
     [("空气滤清器", "1", "126.00"), ("空调滤清器", "1", "98.00"), ("火花塞", "4", "65.00")]),
    (S.WAITING_APPROVAL, "吴刚", "沪AR1004", "速腾", "刹车时前轮有尖叫声", "前刹车片更换", "1.5",
     [("前刹车片（套）", "1", "420.00")]),
    (S.WAITING_PARTS, "郑华", "沪AR1005", "迈腾", "空调不凉", "空调检查与加氟", "0.5",
     [("冷媒 R1234yf", "1", "280.00")]),
    (S.WORK_DONE, "冯雪", "沪AR1006", "宝来", "四轮定位", "四轮定位", "1.0", []),
    (S.QC, "陈晨", "沪AR1007", "朗逸", "保养", "常规保养（机油+机滤）", "1.0",
     [("机油滤清器", "1", "58.00")]),
    (S.REWORK, "褚明", "沪AR1008", "帕萨特", "高速方向盘抖动", "动平衡及四轮定位", "1.5", []),
    (S.WASHING, "卫东", "沪AR1009", "途岳", "保养", "常规保养（机油+机滤）", "1.0",
     [("全合成机油 0W-20 4L", "1", "398.00")]),
    (S.READY, "蒋琳", "沪AR1010", "凌渡", "雨刮刮不干净", "更换雨刮片", "0.3",
     [("雨刮片（对）", "1", "168.00")]),
    (S.INVOICED, "沈洁", "沪AR1011", "速腾", "首保", "首保（7500 km）", "1.0",
     [("机油滤清器", "1", "58.00")]),
    (S.DELIVERED, "韩梅", "沪AR1012", "迈腾", "保养", "常规保养（机油+机滤）", "1.0",
     [("全合成机油 0W-20 4L", "1", "398.00"), ("机油滤清器", "1", "58.00")]),
    (S.DELIVERED, "杨帆", "沪AR1013", "途观L", "刹车异响", "前刹车片更换", "1.5",
     [("前刹车片（套）", "1", "420.00")]),
    (S.CANCELLED, "朱琦", "沪AR1014", "宝来", "车门异响", "车门铰链润滑", "0.3", []),
]  # fmt: skip


def _vin(n: int) -> str:
    body = f"LSVDM0{n:011d}"[:17]
    body = body[:8] + "0" + body[9:]
    total = sum(_VIN_VALUES[c] * w for c, w in zip(body, _VIN_WEIGHTS, strict=True))
    check = total % 11
    return body[:8] + ("X" if check == 10 else str(check)) + body[9:]


def _vehicle(site, n: int, name: str, plate: str, model: str) -> Vehicle:
    vin = _vin(900 + n)
    vehicle = Vehicle.objects.filter(site=site, vin=vin).first()
    if vehicle:
        return vehicle
    vehicle = Vehicle.objects.filter(site=site, plate=plate).first()
    if vehicle:
        return vehicle
    customer = Customer.objects.create(
        site=site, name=name, phone=f"+8613900{n:06d}", title=Customer.Title.NONE
    )
    return Vehicle.objects.create(
        site=site,
        owner=customer,
        vin=vin,
        plate=plate,
        make="大众",
        model=model,
        year=2021 + n % 4,
        mileage_km=15000 + 3700 * n,
        mileage_read_at=timezone.localdate() - timedelta(days=180),
    )


def _drive(ro: RepairOrder, target: str, *, users, job, hours, parts) -> None:
    adv, tech, qc = users["advisor"], users["tech"], users["qc"]
    vehicle = ro.vehicle
    s.intake_record(
        repair_order_id=ro.pk,
        actor=adv,
        covers_fitted=True,
        vin_read=vehicle.vin,
        odometer_km=ro.odometer_km,
        fuel_level="1/2",
        damage={"front_bumper": "右前保险杠轻微划痕"} if ro.pk % 2 else {},
        interior={"trim": ""},
        valuables="行车记录仪、充电线",
        underbody_checked=True,
        symptom_engine="cold" if "冷车" in ro.concern else "",
        symptom_pattern="intermittent" if "异响" in ro.concern else "",
        symptom_since="两周前",
    )
    s.job_line_add(
        repair_order_id=ro.pk,
        actor=adv,
        description=job,
        standard_hours=hours,
        parts=[{"name": n, "quantity": q, "unit_price": p} for n, q, p in parts],
    )
    if target == S.DRAFT:
        return
    if target == S.CANCELLED:
        s.ro_cancel(repair_order_id=ro.pk, actor=adv, reason="客户临时有事，改天再来")
        return
    s.ro_authorize(
        repair_order_id=ro.pk,
        actor=adv,
        channel="in_person" if ro.pk % 2 else "phone",
        customer_name=ro.customer.name,
        promised_at=timezone.now() + timedelta(hours=5),
    )
    if target == S.AUTHORIZED:
        return
    if target == S.WAITING_PARTS:
        s.ro_start(repair_order_id=ro.pk, actor=tech)
        s.ro_wait_parts(
            repair_order_id=ro.pk,
            actor=tech,
            part="冷媒 R1234yf",
            expected_date=timezone.localdate() + timedelta(days=1),
        )
        return
    s.ro_start(repair_order_id=ro.pk, actor=tech)
    if target == S.IN_PROGRESS:
        return
    if target == S.WAITING_APPROVAL:
        photo = SimpleUploadedFile("finding.png", PHOTO, content_type="image/png")
        s.job_propose_additional(
            repair_order_id=ro.pk,
            actor=tech,
            description="更换刹车油（含水量超标 3%）",
            standard_hours="0.5",
            parts=[{"name": "刹车油 DOT4 1L", "quantity": 1, "unit_price": "85.00"}],
            photos=[photo],
        )
        s.ro_request_approval(repair_order_id=ro.pk, actor=adv)
        return
    if target in (S.READY, S.INVOICED, S.DELIVERED) and ro.pk % 3 == 0:
        # an additional job the customer declined: kept with its price for a proactive call
        extra = s.job_propose_additional(
            repair_order_id=ro.pk,
            actor=tech,
            description="更换后刹车片（剩余 3 mm）",
            standard_hours="1.2",
            parts=[{"name": "后刹车片（套）", "quantity": 1, "unit_price": "360.00"}],
        )
        s.ro_answer_approval(
            repair_order_id=ro.pk,
            actor=adv,
            channel="phone",
            answers=[{"job_id": extra.pk, "decision": "declined", "reason": "下次保养再换"}],
        )
    JobLine.objects.filter(repair_order=ro, approval__in=["authorized", "approved"]).update(
        work_status=JobLine.WorkStatus.DONE, technician=tech, actual_hours=Decimal(hours)
    )
    s.ro_complete_work(repair_order_id=ro.pk, actor=tech)
    if target == S.WORK_DONE:
        return
    if target == S.QC:
        s.ro_qc_start(repair_order_id=ro.pk, actor=qc)
        return
    if target == S.REWORK:
        s.ro_qc_fail(
            repair_order_id=ro.pk,
            actor=qc,
            reason="路试 100 km/h 方向盘仍有抖动",
            checklist={**QC_ALL, "steering": False},
        )
        return
    s.ro_qc_pass(repair_order_id=ro.pk, actor=qc, checklist=QC_ALL)
    if target == S.WASHING:
        return
    s.ro_wash_done(repair_order_id=ro.pk, actor=tech)
    s.ro_final_check(repair_order_id=ro.pk, actor=adv, checklist=FINAL_ALL)
    if target == S.READY:
        return
    s.ro_invoice(repair_order_id=ro.pk, actor=adv)
    if target == S.INVOICED:
        return
    s.ro_deliver(
        repair_order_id=ro.pk,
        actor=adv,
        payment_method="wechat",
        handover=HANDOVER_ALL,
    )


def load(*, site, users) -> None:
    first_vehicle = Vehicle.objects.filter(site=site, vin=_vin(901)).first()
    if first_vehicle and RepairOrder.objects.filter(vehicle=first_vehicle).exists():
        return  # already loaded
    delivered_vehicles = []
    for n, (target, name, plate, model, concern, job, hours, parts) in enumerate(DEMO_ROS, 1):
        vehicle = _vehicle(site, n, name, plate, model)
        advisor = users["advisor"] if n % 4 else users.get("advisor2", users["advisor"])
        ro = s.repair_order_open(
            site=site,
            customer=vehicle.owner,
            vehicle=vehicle,
            advisor=advisor,
            actor=advisor,
            concern=concern,
            is_first_service=concern == "首保",
            odometer_km=vehicle.mileage_km + 4200,
        )
        _drive(ro, target, users={**users, "advisor": advisor}, job=job, hours=hours, parts=parts)
        if target == S.DELIVERED:
            delivered_vehicles.append(vehicle)
    # the customer of the last delivery is back with the same noise: a possible comeback
    vehicle = delivered_vehicles[-1]
    vehicle.refresh_from_db()
    s.repair_order_open(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=users["advisor"],
        actor=users["advisor"],
        concern="刹车异响又出现了",
        odometer_km=vehicle.mileage_km + 50,
    )
