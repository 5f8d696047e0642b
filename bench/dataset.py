"""A dealer group's worth of service data, streamed into Postgres with COPY.

`generate(...)` writes sites with their service menus, staff, customers, vehicles, repair
orders with job and part lines, clock entries, appointments (past and future), follow-up and
care call tasks and complaints.

How it stays fast and small:
- one COPY stream per table, each on its own connection, all fed from one loop that walks the
  customers one at a time (a customer, then their vehicles, then each vehicle's visits); nothing
  is collected per row, so memory does not grow with the data;
- foreign keys are not checked during the load (`session_replication_role = replica`): the
  generator writes consistent ids itself; unique constraints still hold;
- every table's columns come from the model: a column the generator does not fill gets the
  model field's default, so a field another app adds later with a default needs no change here.
  A new required column without a default stops the run with its name.

Reproducible: the same seed, sizes and `today` give the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import psycopg
from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.db import connection, models

from appointments.demo import MENU as SERVICE_MENU
from customers import service_due
from customers.services import VEHICLE_FIELDS
from customers.validators import vin_check_digit

UTC = dt.UTC
TZ = ZoneInfo("Asia/Shanghai")

PRESETS = {
    "tiny": {"sites": 2, "customers": 300, "vehicles": 400, "ros": 2000},
    "small": {"sites": 3, "customers": 6000, "vehicles": 8000, "ros": 40000},
    "group": {"sites": 20, "customers": 300_000, "vehicles": 400_000, "ros": 2_000_000},
}

# The apps whose tables `reset` empties (with the users) before a run.
DATA_APPS = (
    "dms",
    "customers",
    "outreach",
    "appointments",
    "workorders",
    "workshop",
    "followups",
    "care",
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏飞斌宇浩凯晨欣怡婷雪琳"
PROVINCES = "粤沪京苏浙鲁川鄂湘闽皖豫冀辽陕津渝赣桂云"
PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def booked_share(days_ahead: int) -> float:
    """The share of a day's bookable hours already booked `days_ahead` days before it."""
    return max(0.3, 0.95 - 0.04 * (days_ahead - 1))


def plate_number(seq: int) -> str:
    """The five characters of a site's `seq`-th plate: seq scrambled by a bijection of
    0 … 34**5 - 1 (an odd multiplier not divisible by 17), so plates are unique at a site and
    spread over every position as a city's are. Until 2026-12-06 the characters were seq in
    base 34 with its lowest digit first: a site's 14,000 cars shared 421 last-four tails, 34 cars
    each, and a lookup by the last four of a plate found 20 customers where a real fleet has
    one or two."""
    n = (seq * 2_654_435_761) % 34**5
    chars = []
    for _ in range(5):
        n, digit = divmod(n, 34)
        chars.append(PLATE_CHARS[digit])
    return "".join(reversed(chars))


MAKES = (
    ("大众", ("朗逸", "帕萨特", "途观L", "速腾", "迈腾")),
    ("丰田", ("卡罗拉", "凯美瑞", "RAV4荣放", "汉兰达")),
    ("本田", ("雅阁", "思域", "CR-V", "飞度")),
    ("别克", ("英朗", "君越", "昂科威")),
    ("奥迪", ("A4L", "A6L", "Q5L")),
)
COLOURS = ("白", "黑", "银", "灰", "蓝", "红")
OPERATIONS = (
    ("M10", "常规保养 (机油、机滤)", 1.0),
    ("M20", "大保养 (机油、三滤、火花塞)", 2.0),
    ("B10", "更换前刹车片", 1.2),
    ("B20", "更换刹车油", 0.8),
    ("T10", "四轮定位", 0.8),
    ("T20", "更换轮胎 ×2", 0.6),
    ("E10", "电瓶检测与更换", 0.5),
    ("A10", "空调系统检查、加氟", 1.0),
    ("D10", "故障诊断 (发动机灯亮)", 1.0),
    ("S10", "悬挂异响检查", 1.5),
    ("W10", "雨刮片更换", 0.2),
    ("G10", "变速箱油更换", 1.5),
)
PARTS = (
    ("P-OIL-4L", "机油 4L", 320.0),
    ("P-OF-01", "机油滤清器", 68.0),
    ("P-AF-01", "空气滤清器", 95.0),
    ("P-CF-01", "空调滤清器", 88.0),
    ("P-BP-F", "前刹车片", 560.0),
    ("P-BF-1L", "刹车油 1L", 120.0),
    ("P-SP-4", "火花塞 ×4", 280.0),
    ("P-BAT-60", "蓄电池 60Ah", 780.0),
    ("P-WB-2", "雨刮片 ×2", 160.0),
    ("P-ATF-4L", "变速箱油 4L", 640.0),
)
OPEN_STATES = (
    ("authorized", 12),
    ("in_progress", 30),
    ("waiting_approval", 6),
    ("waiting_parts", 8),
    ("work_done", 6),
    ("qc", 8),
    ("rework", 2),
    ("washing", 6),
    ("ready", 12),
    ("invoiced", 4),
    ("draft", 6),
)
STAFF = (
    ("manager", "manager", 1),
    ("advisor", "advisor", 8),
    ("dispatcher", "dispatcher", 1),
    ("technician", "tech", 16),
    ("qc_inspector", "qc", 2),
    ("followup_agent", "agent", 3),
    ("parts_clerk", "parts", 1),
)
PASSWORD = "bench-password"
YEARS_OF_HISTORY = 4
RECENT_DETAIL_DAYS = 30  # intake, authorization and QC rows for the last month's ROs


# --- COPY text format -----------------------------------------------------------------------


def _text(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = (
                value.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return _text(json.dumps(value, ensure_ascii=False))
    return str(value)


class TableWriter:
    """A COPY stream into one model's table on its own connection.

    `columns` are the ones the caller passes to `row()`, in that order; every other concrete
    column is filled with the model field's default (auto_now fields: `now`).
    """

    FLUSH_BYTES = 1 << 20

    def __init__(self, stack: ExitStack, dsn: str, model, columns: list[str], now: dt.datetime):
        self.model = model
        self.table = model._meta.db_table
        self.columns = list(columns)
        self.rows = 0
        by_column = {f.column: f for f in model._meta.concrete_fields}
        unknown = [c for c in self.columns if c not in by_column]
        if unknown:
            msg = f"{self.table} has no column(s) {unknown}"
            raise ValueError(msg)
        self.by_column, self.now = by_column, now
        rest, rest_values = [], []
        for f in model._meta.concrete_fields:
            if f.column in self.columns or isinstance(f, models.GeneratedField):
                continue
            rest.append(f.column)
            rest_values.append(_text(self._default(f, now)))
        self.all_columns = self.columns + rest
        self.suffix = ("\t" + "\t".join(rest_values)) if rest else ""
        self.conn = stack.enter_context(psycopg.connect(dsn))
        with self.conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            cur.execute("SET synchronous_commit = off")
        self.cursor = stack.enter_context(self.conn.cursor())
        cols = ", ".join(f'"{c}"' for c in self.all_columns)
        self.copy = stack.enter_context(
            self.cursor.copy(f'COPY "{self.table}" ({cols}) FROM STDIN')
        )
        self.buffer: list[str] = []
        self.size = 0
        self.wait = 0.0  # seconds spent handing rows to the server

    def _default(self, f, now):
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            return now
        if f.has_default():
            value = f.get_default()
        elif f.null:
            return None
        else:
            value = f.get_default()  # "" for text fields
            if value is None:
                msg = (
                    f"{self.table}.{f.column} is required and has no default: "
                    "teach bench/dataset.py to fill it"
                )
                raise ValueError(msg)
        if isinstance(value, Decimal):
            return str(value)
        return value

    def record(self, **values) -> None:
        """A row by column name: a column left out gets the model field's default."""
        unknown = sorted(set(values) - set(self.columns))
        if unknown:
            msg = f"{self.table}: no column(s) {unknown} among those written"
            raise ValueError(msg)
        self.row(
            *(
                values[c] if c in values else self._default(self.by_column[c], self.now)
                for c in self.columns
            )
        )

    def row(self, *values) -> None:
        line = "\t".join(map(_text, values)) + self.suffix + "\n"
        self.buffer.append(line)
        self.size += len(line)
        self.rows += 1
        if self.size > self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            t = time.monotonic()
            self.copy.write("".join(self.buffer))
            self.wait += time.monotonic() - t
            self.buffer.clear()
            self.size = 0


# --- the generator --------------------------------------------------------------------------


@dataclass
class SiteInfo:
    id: int
    code: str
    province: str
    weight: float
    users: dict[str, list[int]] = field(default_factory=dict)
    labour_rate: float = 180.0
    ro_seq: dict[int, int] = field(default_factory=dict)
    vehicle_seq: int = 0
    # a bounded sample of (customer, vehicle) pairs for future bookings (reservoir sampling)
    sample: list[tuple[int, int]] = field(default_factory=list)
    seen: int = 0
    clocked_on: set[int] = field(default_factory=set)  # one open clock entry per technician


@dataclass
class DayLoad:
    """Appointments booked on one site-day: how many (for distinct advisor/slot) and hours."""

    count: int = 0
    hours: float = 0.0


class Generator:
    def __init__(self, *, dsn, seed, sites, customers, vehicles, ros, today, log):
        self.dsn = dsn
        self.rng = random.Random(seed)
        self.n_sites, self.n_customers, self.n_vehicles, self.n_ros = (
            sites,
            customers,
            vehicles,
            ros,
        )
        self.today = today
        self.log = log
        # "now" is fixed from `today` so the same seed gives the same rows on any run day
        self.now = dt.datetime.combine(today, dt.time(10, 30), TZ).astimezone(UTC)
        self.ids: dict[str, int] = {}
        self.day_load: dict[tuple[int, dt.date], DayLoad] = {}
        self.sites: list[SiteInfo] = []
        self.stats: dict[str, int] = {}

    # ids are assigned here, so rows can point at each other before they reach the database
    def next_id(self, name: str) -> int:
        self.ids[name] = self.ids.get(name, 0) + 1
        return self.ids[name]

    def run(self) -> dict[str, int]:
        with ExitStack() as stack:
            w = self.writers(stack)
            self.write_sites_and_staff(w)
            self.write_customers(w)
            self.write_future_appointments(w)
            self.write_day_capacity(w)
            for writer in w.values():
                writer.flush()
            t = time.monotonic()
            stack.close()  # ends every COPY and commits each connection
            self.log(f"  commit {time.monotonic() - t:.1f} s")
            for name, writer in w.items():
                if writer.wait > 1:
                    self.log(f"  {name}: {writer.wait:.1f} s waiting for the server")
            self.stats = {name: writer.rows for name, writer in w.items()}
        t = time.monotonic()
        self.finish()
        self.log(f"  sequences and VACUUM ANALYZE {time.monotonic() - t:.1f} s")
        return self.stats

    def writers(self, stack: ExitStack) -> dict[str, TableWriter]:
        m = apps.get_model
        spec: dict[str, tuple[str, list[str]]] = {
            "site": ("dms.Site", ["id", "code", "name", "phone", "address", "labour_rate"]),
            "hours": ("dms.OpeningHours", ["id", "site_id", "weekday", "opens", "closes"]),
            "user": (
                "auth.User",
                [
                    "id",
                    "username",
                    "password",
                    "first_name",
                    "last_name",
                    "email",
                    "is_staff",
                    "is_active",
                    "is_superuser",
                    "date_joined",
                ],
            ),
            "staff": ("dms.StaffRole", ["id", "user_id", "site_id", "role", "on_duty"]),
            "bay": ("workshop.Bay", ["id", "site_id", "code"]),
            "offering": (
                "appointments.ServiceOffering",
                ["id", "site_id", "code", "name", "standard_hours", "parts", "position"],
            ),
            "customer": (
                "customers.Customer",
                [
                    "id",
                    "site_id",
                    "name",
                    "title",
                    "phone",
                    "email",
                    "consent_marketing",
                    "abc_class",
                    "retention",
                    "last_delivery_at",
                    "visits_12m",
                    "spend_12m",
                    "segmented_at",
                    "created_at",
                ],
            ),
            # the archive's one list of a vehicle's editable fields, then what the archive estimates
            "vehicle": (
                "customers.Vehicle",
                [
                    "id",
                    "site_id",
                    "owner_id",
                    *VEHICLE_FIELDS,
                    "last_visit_at",
                    "km_per_day",
                    "km_due_on",
                    "service_due_on",
                    "first_service_due_on",
                    "created_at",
                ],
            ),
            "ownership": (
                "customers.VehicleOwnership",
                ["id", "vehicle_id", "customer_id", "since"],
            ),
            "mileage": (
                "customers.MileageReading",
                ["id", "vehicle_id", "km", "read_on", "source", "created_at"],
            ),
            "appointment": (
                "appointments.Appointment",
                [
                    "id",
                    "site_id",
                    "customer_id",
                    "vehicle_id",
                    "advisor_id",
                    "start",
                    "end",
                    "day",
                    "estimated_hours",
                    "services",
                    "source",
                    "channel",
                    "status",
                    "created_at",
                ],
            ),
            "capacity": ("appointments.DayCapacity", ["id", "site_id", "day", "booked_hours"]),
            "ro": (
                "workorders.RepairOrder",
                [
                    "id",
                    "site_id",
                    "number",
                    "customer_id",
                    "vehicle_id",
                    "advisor_id",
                    "appointment_id",
                    "status",
                    "is_first_service",
                    "concern",
                    "odometer_km",
                    "opened_at",
                    "opened_day",
                    "promised_at",
                    "first_promised_at",
                    "authorized_at",
                    "work_done_at",
                    "qc_fail_count",
                    "qc_passed_at",
                    "ready_at",
                    "invoiced_at",
                    "delivered_at",
                    "delivered_day",
                    "cancelled_at",
                    "cancel_reason",
                    "labour_total",
                    "parts_total",
                    "tax_total",
                    "grand_total",
                    "comeback_of_id",
                    "payment_method",
                ],
            ),
            "line": (
                "workorders.JobLine",
                [
                    "id",
                    "repair_order_id",
                    "position",
                    "operation_code",
                    "description",
                    "standard_hours",
                    "labour_rate",
                    "labour_amount",
                    "is_additional",
                    "approval",
                    "work_status",
                    "technician_id",
                    "actual_hours",
                    "signed_off_at",
                    "created_at",
                ],
            ),
            "part": (
                "workorders.PartLine",
                ["id", "job_id", "part_number", "name", "quantity", "unit_price"],
            ),
            "sequence": ("workorders.RONumberSequence", ["id", "site_id", "year", "last"]),
            "clock": (
                "workshop.ClockEntry",
                ["id", "site_id", "job_id", "technician_id", "started_at", "ended_at"],
            ),
            "task": (
                "outreach.CallTask",
                [
                    "id",
                    "site_id",
                    "kind",
                    "channel",
                    "source_key",
                    "customer_id",
                    "vehicle_id",
                    "due_at",
                    "due_until",
                    "status",
                    "assignee_id",
                    "attempts",
                    "outcome",
                    "satisfaction",
                    "completed_at",
                    "created_at",
                    "data",
                ],
            ),
            # which repair order / appointment a task is about (the apps' link tables)
            "task_ro": ("workorders.RepairOrderCallTask", ["task_id", "repair_order_id"]),
            "task_appointment": (
                "appointments.AppointmentCallTask",
                ["task_id", "appointment_id"],
            ),
            "complaint": (
                "followups.Complaint",
                [
                    "id",
                    "site_id",
                    "channel",
                    "status",
                    "customer_id",
                    "vehicle_id",
                    "repair_order_id",
                    "advisor_id",
                    "description",
                    "cause",
                    "opened_at",
                    "respond_by",
                    "contacted_at",
                    "decided_at",
                    "resolved_at",
                    "closed_at",
                    "decision",
                ],
            ),
        }
        # models added by other apps since: filled when they exist
        optional = {
            "rule": ("care.ReminderRule", ["id", "site_id", "kind", "lead_days", "window_days"]),
            "intake": (
                "workorders.Intake",
                [
                    "id",
                    "repair_order_id",
                    "covers_fitted",
                    "odometer_km",
                    "fuel_level",
                    "recorded_by_id",
                    "recorded_at",
                ],
            ),
            "approval": (
                "workorders.Approval",
                [
                    "id",
                    "repair_order_id",
                    "kind",
                    "estimate_version",
                    "customer_name",
                    "channel",
                    "answered_at",
                    "approved_amount",
                    "recorded_by_id",
                ],
            ),
            "qc": (
                "workshop.QCInspection",
                [
                    "id",
                    "repair_order_id",
                    "inspector_id",
                    "passed",
                    "checklist",
                    "reason",
                    "inspected_at",
                ],
            ),
        }
        for name, (label, cols) in optional.items():
            try:
                apps.get_model(label)
            except LookupError:
                continue
            spec[name] = (label, cols)
        return {
            name: TableWriter(stack, self.dsn, m(label), cols, self.now)
            for name, (label, cols) in spec.items()
        }

    # --- sites and staff

    def write_sites_and_staff(self, w) -> None:
        rng = self.rng
        password = make_password(PASSWORD, salt="benchsalt")
        joined = self.now - dt.timedelta(days=YEARS_OF_HISTORY * 365)
        user_id = self.next_id("user")
        w["user"].row(user_id, "bench-group", password, "", "Group", "", True, True, True, joined)
        opens, closes = dt.time(8, 0), dt.time(18, 0)
        for i in range(self.n_sites):
            site_id = self.next_id("site")
            code = f"s{i + 1:02d}"
            info = SiteInfo(
                id=site_id,
                code=code,
                province=PROVINCES[i % len(PROVINCES)],
                weight=rng.uniform(0.6, 1.4),
            )
            self.sites.append(info)
            w["site"].row(
                site_id,
                code,
                f"4S店 {i + 1:02d}",
                f"+86755{8000000 + i}",
                f"{info.province} 汽车城 {i + 1} 号",
                "180.00",
            )
            for weekday in range(6):
                w["hours"].row(self.next_id("hours"), site_id, weekday, opens, closes)
            for b in range(10):
                w["bay"].row(self.next_id("bay"), site_id, f"B{b + 1:02d}")
            # the service menu a customer books from online (the demo site's menu)
            for position, (menu_code, name, hours, parts) in enumerate(SERVICE_MENU):
                w["offering"].row(
                    self.next_id("offering"), site_id, menu_code, name, hours, parts, position
                )
            for role, stem, count in STAFF:
                ids = info.users.setdefault(role, [])
                for n in range(count):
                    uid = self.next_id("user")
                    username = f"{code}-{stem}{n + 1 if count > 1 else ''}"
                    surname = SURNAMES[(i * 7 + n) % len(SURNAMES)]
                    w["user"].row(
                        uid,
                        username,
                        password,
                        GIVEN[n % len(GIVEN)],
                        surname,
                        f"{username}@bench.invalid",
                        False,
                        True,
                        False,
                        joined,
                    )
                    w["staff"].row(self.next_id("staff"), uid, site_id, role, True)
                    ids.append(uid)
                # the group user manages every site
            w["staff"].row(self.next_id("staff"), user_id, site_id, "manager", True)
            if "rule" in w:
                for kind in (
                    "maintenance_due",
                    "first_service",
                    "insurance_renewal",
                    "annual_inspection",
                    "winback_at_risk",
                ):
                    w["rule"].row(self.next_id("rule"), site_id, kind, 14, 14)
        total = sum(s.weight for s in self.sites)
        acc = 0.0
        self.site_cdf = []
        for s in self.sites:
            acc += s.weight / total
            self.site_cdf.append(acc)

    def pick_site(self) -> SiteInfo:
        x = self.rng.random()
        for s, edge in zip(self.sites, self.site_cdf, strict=True):
            if x <= edge:
                return s
        return self.sites[-1]

    # --- customers, vehicles and their visits

    def write_customers(self, w) -> None:
        rng = self.rng
        extra_vehicles = self.n_vehicles - self.n_customers
        ros_left, vehicles_left = self.n_ros, self.n_vehicles
        started = time.monotonic()
        for c in range(self.n_customers):
            customers_left = self.n_customers - c
            n_veh = 1
            if extra_vehicles > 0 and rng.random() < extra_vehicles / customers_left:
                n_veh += 1
                extra_vehicles -= 1
            if c == self.n_customers - 1:
                n_veh += max(extra_vehicles, 0)
            site = self.pick_site()
            cust_id = self.next_id("customer")
            history = []  # this customer's delivered visits (at, amount)
            for _v in range(n_veh):
                mean = ros_left / vehicles_left if vehicles_left else 0
                if vehicles_left == 1:
                    visits = ros_left
                else:
                    visits = min(ros_left, int(rng.expovariate(1 / mean)) if mean > 0 else 0, 40)
                ros_left -= visits
                vehicles_left -= 1
                self.write_vehicle(w, site, cust_id, visits, history)
            self.write_customer_row(w, site, cust_id, c, history)
            if c and c % 20000 == 0:
                rate = c / (time.monotonic() - started)
                self.log(f"  {c:,} customers ({rate:,.0f}/s), {self.n_ros - ros_left:,} ROs")

    def write_customer_row(self, w, site, cust_id, seq, history) -> None:
        rng = self.rng
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if seq % 3 else "")
        phone = f"+861{30 + seq % 60}{(seq * 7919) % 10**8:08d}"
        year_ago = self.now - dt.timedelta(days=365)
        recent = [amount for at, amount in history if at >= year_ago]
        last = max((at for at, _a in history), default=None)
        if last is None:
            retention = "new"
        else:
            months = (self.now - last).days / 30.4
            retention = (
                "active"
                if months < 3
                else "at_risk"
                if months < 6
                else "nearly_lost"
                if months < 9
                else "lost"
            )
        visits = len(recent)
        abc = "A" if visits >= 3 else "B" if visits >= 1 else "C"
        created = min((at for at, _a in history), default=self.now) - dt.timedelta(days=1)
        w["customer"].row(
            cust_id,
            site.id,
            name,
            rng.choice(("mr", "ms", "")),
            phone,
            f"c{cust_id}@example.cn" if seq % 4 == 0 else "",
            seq % 3 == 0,
            abc,
            retention,
            last,
            min(visits, 32767),
            f"{sum(recent):.2f}",
            self.now,
            created,
        )

    def write_vehicle(self, w, site, cust_id, visits, history) -> None:
        rng = self.rng
        veh_id = self.next_id("vehicle")
        site.vehicle_seq += 1
        seq = site.vehicle_seq
        age_days = rng.randint(30, 8 * 365)
        purchase = self.today - dt.timedelta(days=age_days)
        vin = f"LSV{rng.choice('ABCDEFGH')}{rng.choice('ABCDE')}2{rng.choice('EFGH')}0"
        vin += f"{'ABCDEFGHJKLMNPRSTVWXY'[purchase.year % 21]}{site.id % 10}{veh_id % 10**7:07d}"
        vin = vin[:8] + vin_check_digit(vin) + vin[9:]
        plate = site.province + "ABCDEF"[site.id % 6] + plate_number(seq)
        make, model_names = MAKES[veh_id % len(MAKES)]
        km_per_day = rng.uniform(15, 80)
        km_now = int(age_days * km_per_day)
        # visits spread over the car's life, at most the years of history
        span = min(age_days, YEARS_OF_HISTORY * 365)
        offsets = sorted(rng.random() * span for _ in range(visits))
        prev_ro, prev_at = None, None
        last_visit = None
        ros: list[tuple] = []  # (opened day, odometer, delivered, first service) not cancelled
        for n, off in enumerate(offsets):
            opened = self.now - dt.timedelta(days=span - off)
            if opened > self.now:
                opened = self.now - dt.timedelta(minutes=rng.randint(5, 120))
            # daytime, site-local
            local = opened.astimezone(TZ)
            local = local.replace(hour=rng.randint(8, 16), minute=rng.choice((0, 15, 30, 45)))
            opened = min(local.astimezone(UTC), self.now - dt.timedelta(minutes=5))
            km = int((age_days - (self.now - opened).days) * km_per_day)
            comeback = prev_ro if (prev_at and (opened - prev_at).days < 20) else None
            first = n == 0 and age_days < 400
            ro_id, delivered, status = self.write_ro(
                w,
                site,
                cust_id,
                veh_id,
                opened,
                max(km, 10),
                first=first,
                comeback_of=comeback,
            )
            if delivered:
                history.append(delivered)
                last_visit = delivered[0]
            if status != "cancelled":
                ros.append((opened.astimezone(TZ).date(), max(km, 10), delivered, first))
            prev_ro, prev_at = ro_id, opened
        interval = 10000
        next_km = (km_now // interval + 1) * interval
        next_date = (last_visit.date() if last_visit else purchase) + dt.timedelta(days=182)
        model, colour = rng.choice(model_names), rng.choice(COLOURS)
        editable = {
            "purchase_date": purchase,
            "sold_by_site": rng.random() < 0.7,
            "mileage_km": km_now,
            "mileage_read_at": self.today,
            "next_service_due_date": next_date,
            "next_service_due_km": next_km,
            "first_service_done": bool(visits),
        }
        estimates = self.service_estimates(editable, ros)
        renewal = purchase + dt.timedelta(days=365 * (age_days // 365 + 1))
        w["vehicle"].record(
            id=veh_id,
            site_id=site.id,
            owner_id=cust_id,
            vin=vin,
            plate=plate,
            make=make,
            model=model,
            year=purchase.year,
            colour=colour,
            warranty_end=purchase + dt.timedelta(days=3 * 365),
            insurance_renewal_date=renewal,
            annual_inspection_date=renewal + dt.timedelta(days=30),
            last_visit_at=last_visit,
            km_per_day=estimates.km_per_day,
            km_due_on=estimates.km_due_on,
            service_due_on=estimates.service_due_on,
            first_service_due_on=estimates.first_service_due_on,
            created_at=dt.datetime.combine(purchase, dt.time(9), TZ),
            **editable,
        )
        site.seen += 1
        if len(site.sample) < 5000:
            site.sample.append((cust_id, veh_id))
        else:
            k = rng.randrange(site.seen)
            if k < 5000:
                site.sample[k] = (cust_id, veh_id)
        w["ownership"].row(self.next_id("ownership"), veh_id, cust_id, purchase)
        w["mileage"].row(self.next_id("mileage"), veh_id, km_now, self.today, "import", self.now)

    def service_estimates(self, editable: dict, ros: list[tuple]) -> service_due.Estimates:
        """What the archive stores of the vehicle's next service (`customers.service_due`), from
        the history written here: its reading today (also a mileage reading) and its repair
        orders not cancelled."""
        delivered = [(d[0].astimezone(TZ).date(), km) for _day, km, d, _f in ros if d]
        first_ro, last_ro = (ros[0], ros[-1]) if ros else ((None, None), (None, None))
        last_service = delivered[-1] if delivered else (None, None)
        facts = SimpleNamespace(
            service_interval_months=6,
            service_interval_km=10000,
            **editable,
            first_mr_day=self.today,
            first_mr_km=editable["mileage_km"],
            last_mr_day=self.today,
            last_mr_km=editable["mileage_km"],
            first_ro_day=first_ro[0],
            first_ro_km=first_ro[1],
            last_ro_day=last_ro[0],
            last_ro_km=last_ro[1],
            last_service_day=last_service[0],
            last_service_km=last_service[1],
            first_service_seen=any(first for *_x, first in ros),
        )
        # the sites' first-service rules are written with no figures of their own: the defaults
        return service_due.estimates(
            facts, today=self.today, first_service=service_due.FirstServiceRule()
        )

    def book_slot(self, site, day: dt.date, hours: float) -> tuple[int, dt.datetime]:
        """The next free (advisor, slot) of a site-day: distinct per day, as the desk books."""
        load = self.day_load.setdefault((site.id, day), DayLoad())
        advisors = site.users["advisor"]
        n = load.count
        load.count += 1
        load.hours += hours
        slot = n // len(advisors)
        start = dt.datetime.combine(day, dt.time(8, 0), TZ) + dt.timedelta(minutes=15 * slot)
        return advisors[n % len(advisors)], start.astimezone(UTC)

    def write_ro(self, w, site, cust_id, veh_id, opened, km, *, first, comeback_of):
        rng = self.rng
        ro_id = self.next_id("ro")
        age = self.now - opened
        local_day = opened.astimezone(TZ).date()
        year = local_day.year
        site.ro_seq[year] = site.ro_seq.get(year, 0) + 1
        number = f"RO-{year}-{site.ro_seq[year]:06d}"
        # state: history is delivered (a few cancelled); the last two days are still in the shop
        if age < dt.timedelta(hours=30) or (age < dt.timedelta(days=2) and rng.random() < 0.3):
            status = rng.choices([s for s, _w in OPEN_STATES], [w_ for _s, w_ in OPEN_STATES])[0]
        elif rng.random() < 0.02:
            status = "cancelled"
        else:
            status = "delivered"
        n_lines = rng.choices((1, 2, 3, 4, 5), (35, 30, 20, 10, 5))[0]
        hours_total = 0.0
        appointment_id = None
        techs = site.users["technician"]
        advisor = rng.choice(site.users["advisor"])
        if rng.random() < 0.45:
            appointment_id = self.next_id("appointment")
            est = rng.choice((1.0, 1.5, 2.0, 3.0))
            advisor, start = self.book_slot(site, local_day, est)
            w["appointment"].row(
                appointment_id,
                site.id,
                cust_id,
                veh_id,
                advisor,
                start,
                start + dt.timedelta(minutes=15),
                local_day,
                f"{est:.1f}",
                [],
                "proactive" if rng.random() < 0.4 else "customer",
                rng.choice(("phone", "online", "call_centre")),
                "arrived",
                start - dt.timedelta(days=rng.randint(1, 10)),
            )
        authorized = opened + dt.timedelta(minutes=rng.randint(10, 40))
        work_start = authorized + dt.timedelta(minutes=rng.randint(5, 90))
        t = work_start
        labour = parts = 0.0
        done = status in ("work_done", "qc", "washing", "ready", "invoiced", "delivered")
        started = done or status in ("in_progress", "waiting_parts", "waiting_approval", "rework")
        for pos in range(n_lines):
            line_id = self.next_id("line")
            code, desc, std = OPERATIONS[rng.randrange(len(OPERATIONS))]
            additional = pos > 0 and rng.random() < 0.12
            approval = "authorized"
            if additional:
                approval = rng.choices(("approved", "declined", "proposed"), (70, 25, 5))[0]
                if approval == "proposed" and status == "delivered":
                    approval = "declined"
            workable = approval in ("authorized", "approved")
            amount = std * site.labour_rate if workable else 0.0
            tech = rng.choice(techs) if workable and status != "draft" else None
            line_done = workable and (done or (started and pos < n_lines - 1))
            actual = std * rng.uniform(0.7, 1.3) if line_done else 0.0
            work_status = (
                "done" if line_done else ("pending" if not started or pos else "in_progress")
            )
            if status == "waiting_parts" and not line_done and workable:
                work_status = "waiting_parts"
            signed = t + dt.timedelta(hours=actual) if line_done else None
            w["line"].row(
                line_id,
                ro_id,
                pos,
                code,
                desc,
                f"{std:.2f}",
                f"{site.labour_rate:.2f}",
                f"{std * site.labour_rate:.2f}",
                additional,
                approval,
                work_status,
                tech,
                f"{actual:.2f}",
                signed,
                opened,
            )
            if workable:
                labour += amount
                hours_total += std
            for _p in range(rng.choices((0, 1, 2, 3), (30, 40, 20, 10))[0]):
                pn, pname, price = PARTS[rng.randrange(len(PARTS))]
                qty = 1
                w["part"].row(self.next_id("part"), line_id, pn, pname, qty, f"{price:.2f}")
                if workable:
                    parts += price * qty
            if tech and work_status == "in_progress":
                free = [x for x in techs if x not in site.clocked_on]
                tech = rng.choice(free) if free else None
                if tech:
                    site.clocked_on.add(tech)
                    w["clock"].row(self.next_id("clock"), site.id, line_id, tech, t, None)
            elif tech and line_done:
                end = t + dt.timedelta(hours=actual)
                w["clock"].row(self.next_id("clock"), site.id, line_id, tech, t, end)
                t = end
        tax = (labour + parts) * 0.13
        total = labour + parts + tax
        work_done = t if done else None
        qc_fails = 1 if done and rng.random() < 0.05 else 0
        qc_passed = (
            t + dt.timedelta(minutes=30)
            if status in ("washing", "ready", "invoiced", "delivered")
            else None
        )
        ready = (
            t + dt.timedelta(minutes=60) if status in ("ready", "invoiced", "delivered") else None
        )
        invoiced = t + dt.timedelta(minutes=75) if status in ("invoiced", "delivered") else None
        promised = opened + dt.timedelta(hours=max(2, hours_total * 1.5 + 1))
        delivered = None
        if status == "delivered":
            late = rng.random() < 0.1
            delivered = (
                promised + dt.timedelta(minutes=rng.randint(10, 180))
                if late
                else max(invoiced, promised - dt.timedelta(minutes=rng.randint(0, 60)))
            )
            delivered = min(delivered, self.now - dt.timedelta(minutes=1))
        cancelled = opened + dt.timedelta(hours=1) if status == "cancelled" else None
        w["ro"].row(
            ro_id,
            site.id,
            number,
            cust_id,
            veh_id,
            advisor,
            appointment_id,
            status,
            first,
            "客户反映: "
            + rng.choice(("例行保养", "刹车异响", "发动机灯亮", "空调不凉", "轮胎磨损")),
            km,
            opened,
            local_day,
            promised,
            promised,
            authorized if status != "draft" else None,
            work_done,
            qc_fails,
            qc_passed,
            ready,
            invoiced,
            delivered,
            delivered.astimezone(TZ).date() if delivered else None,
            cancelled,
            "客户取消" if cancelled else "",
            f"{labour:.2f}",
            f"{parts:.2f}",
            f"{tax:.2f}",
            f"{total:.2f}",
            comeback_of,
            rng.choice(("wechat", "alipay", "card")) if delivered else "",
        )
        if age < dt.timedelta(days=RECENT_DETAIL_DAYS):
            self.write_ro_detail(
                w, site, ro_id, status, opened, authorized, km, advisor, total, qc_passed, qc_fails
            )
        if delivered:
            self.write_followup(w, site, cust_id, veh_id, ro_id, delivered, advisor)
            return ro_id, (delivered, total), status
        return ro_id, None, status

    def write_ro_detail(
        self, w, site, ro_id, status, opened, authorized, km, advisor, total, qc_passed, qc_fails
    ) -> None:
        """The recent ROs' intake walk-around, signed authorization and QC inspections."""
        rng = self.rng
        if "intake" in w:
            w["intake"].row(
                self.next_id("intake"),
                ro_id,
                True,
                km,
                rng.choice(("1/4", "1/2", "3/4", "full")),
                advisor,
                opened,
            )
        if "approval" in w and status != "draft":
            w["approval"].row(
                self.next_id("approval"),
                ro_id,
                "authorization",
                1,
                "客户本人",
                "signature",
                authorized,
                f"{total:.2f}",
                advisor,
            )
        if "qc" in w and qc_passed:
            inspector = rng.choice(site.users["qc_inspector"])
            checklist = {"road_test": True, "brakes": True, "lines_checked": True}
            for n in range(qc_fails):
                w["qc"].row(
                    self.next_id("qc"),
                    ro_id,
                    inspector,
                    False,
                    checklist,
                    "刹车异响未排除",
                    qc_passed - dt.timedelta(minutes=40 + n),
                )
            w["qc"].row(self.next_id("qc"), ro_id, inspector, True, checklist, "", qc_passed)

    def write_followup(self, w, site, cust_id, veh_id, ro_id, delivered, advisor) -> None:
        """The 2–5-day follow-up call of a delivered RO (last 13 months), and complaints."""
        rng = self.rng
        if self.now - delivered > dt.timedelta(days=400):
            return
        due = delivered + dt.timedelta(days=2)
        until = delivered + dt.timedelta(days=5)
        agent = rng.choice(site.users["followup_agent"])
        if due > self.now:
            status, outcome, sat, done_at = "scheduled", "", None, None
        elif until > self.now:
            status, outcome, sat, done_at = "open", "", None, None
        else:
            reached = rng.random() < 0.85
            status = "done" if reached else "unreachable"
            outcome = "reached" if reached else "no_answer"
            sat = rng.choices((5, 4, 3, 2, 1), (55, 30, 9, 4, 2))[0] if reached else None
            done_at = due + dt.timedelta(hours=rng.randint(1, 60))
        task_id = self.next_id("task")
        w["task"].row(
            task_id,
            site.id,
            "followup",
            "call",
            f"ro:{ro_id}",
            cust_id,
            veh_id,
            due,
            until,
            status,
            agent,
            1 if done_at else 0,
            outcome,
            sat,
            done_at,
            delivered,
            {"advisor_id": advisor},
        )
        w["task_ro"].row(task_id, ro_id)
        if (sat is not None and sat <= 2) or rng.random() < 0.003:
            opened = done_at or delivered + dt.timedelta(days=1)
            closed = opened + dt.timedelta(days=rng.randint(1, 10))
            is_closed = closed < self.now
            w["complaint"].row(
                self.next_id("complaint"),
                site.id,
                "followup_call" if sat else rng.choice(("on_site", "inbound_call")),
                "closed" if is_closed else rng.choice(("open", "assigned", "contacted")),
                cust_id,
                veh_id,
                ro_id,
                advisor,
                "客户对本次维修不满意",
                rng.choice(("workmanship", "waiting", "price", "communication")),
                opened,
                opened + dt.timedelta(hours=24),
                opened + dt.timedelta(hours=rng.randint(1, 30)) if is_closed else None,
                opened + dt.timedelta(days=1) if is_closed else None,
                closed if is_closed else None,
                closed if is_closed else None,
                rng.choice(("our_fault", "not_our_fault")) if is_closed else "",
            )

    def write_future_appointments(self, w) -> None:
        """The next two weeks of bookings, with their reminder calls: a workshop's book fills
        from the front, tomorrow at about 95 % of the bookable hours, two weeks out at about
        45 % (`booked_share`). Until 2026-12-06 every day got a fixed number of bookings, which
        put every site's next two weeks at 135-250 % of its bookable hours: every availability
        answer then had no slot and looked for other days."""
        rng = self.rng
        site_fields = {f.name: f.default for f in apps.get_model("dms", "Site")._meta.fields}
        bookable = (
            site_fields["technicians_on_duty"]
            * float(site_fields["technician_hours_per_day"])
            * float(site_fields["bookable_share"])
        )
        for site in self.sites:
            if not site.sample:
                continue
            for d in range(1, 15):
                day = self.today + dt.timedelta(days=d)
                if day.weekday() == 6:
                    continue
                target = bookable * booked_share(d)
                while True:
                    est = rng.choice((1.0, 1.5, 2.0, 3.0))
                    if self.day_load.get((site.id, day), DayLoad()).hours + est > target:
                        break
                    cust, veh = rng.choice(site.sample)
                    advisor, start = self.book_slot(site, day, est)
                    appt = self.next_id("appointment")
                    w["appointment"].row(
                        appt,
                        site.id,
                        cust,
                        veh,
                        advisor,
                        start,
                        start + dt.timedelta(minutes=15),
                        day,
                        f"{est:.1f}",
                        [],
                        rng.choice(("proactive", "customer")),
                        "phone",
                        rng.choice(("booked", "confirmed")),
                        self.now,
                    )
                    before = start - dt.timedelta(days=1)
                    task_id = self.next_id("task")
                    w["task"].row(
                        task_id,
                        site.id,
                        "reminder_day_before",
                        "call",
                        f"appointment:{appt}:{start.isoformat()}",
                        cust,
                        veh,
                        before,
                        start - dt.timedelta(hours=2),
                        "scheduled",
                        None,
                        0,
                        "",
                        None,
                        None,
                        self.now,
                        {"appointment_id": appt},
                    )
                    w["task_appointment"].row(task_id, appt)

    def write_day_capacity(self, w) -> None:
        for (site_id, day), load in sorted(self.day_load.items()):
            w["capacity"].row(self.next_id("capacity"), site_id, day, f"{load.hours:.1f}")
        for site in self.sites:
            for year, last in sorted(site.ro_seq.items()):
                w["sequence"].row(self.next_id("sequence"), site.id, year, last)

    def finish(self) -> None:
        """Sequences past the ids written, then fresh planner statistics."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            existing = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
            for model in apps.get_models():
                if model._meta.app_label not in (*DATA_APPS, "auth"):
                    continue
                table = model._meta.db_table
                if table not in existing:  # a model whose migration is not applied yet
                    continue
                pk = model._meta.pk
                if not isinstance(pk, models.AutoField | models.BigAutoField):
                    continue
                conn.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), "
                    f'COALESCE((SELECT max("{pk.column}") FROM "{table}"), 0) + 1, false)',
                    (table, pk.column),
                )
            conn.execute("VACUUM ANALYZE")


def reset(dsn: str) -> None:
    """Empty every data table (sites, staff, customers, … and the users)."""
    tables = [m._meta.db_table for m in apps.get_models() if m._meta.app_label in DATA_APPS] + [
        "auth_user"
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
        names = ", ".join(f'"{t}"' for t in tables if t in existing)
        if names:
            conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def dsn_of_default_database() -> str:
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        msg = "generate_dataset needs Postgres (COPY); set DATABASE_URL to a Postgres database"
        raise RuntimeError(msg)
    return psycopg.conninfo.make_conninfo(
        dbname=s["NAME"],
        user=s.get("USER") or None,
        password=s.get("PASSWORD") or None,
        host=s.get("HOST") or None,
        port=s.get("PORT") or None,
    )


def generate(
    *,
    sites: int,
    customers: int,
    vehicles: int,
    ros: int,
    seed: int = 1,
    today: dt.date | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, int]:
    if vehicles < customers:
        msg = "every customer has at least one vehicle: vehicles must be ≥ customers"
        raise ValueError(msg)
    gen = Generator(
        dsn=dsn_of_default_database(),
        seed=seed,
        sites=sites,
        customers=customers,
        vehicles=vehicles,
        ros=ros,
        today=today or dt.datetime.now(TZ).date(),
        log=log,
    )
    return gen.run()


def has_data(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return bool(
            conn.execute(
                "SELECT EXISTS (SELECT 1 FROM dms_site) OR EXISTS (SELECT 1 FROM customers_customer)"
            ).fetchone()[0]
        )
