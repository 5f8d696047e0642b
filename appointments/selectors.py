"""Reads for appointments: the slot grid, availability with load levelling, day and week load,
the front-desk day board, the parts pick list and the welcome board.

All day boundaries and slot times are in the site's time zone; every datetime returned is aware.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import Customer
from dms.models import ClosedDate, OpeningHours, Role, Site
from dms.names import has_cjk, person_name
from dms.opening import site_calendar

from .models import ACTIVE_STATUSES, Appointment, AppointmentStatus, PartReservation

# A day whose booked share passes this is "heavily loaded": availability proposes other days.
HEAVY_LOAD_SHARE = Decimal("0.80")
# How far around the asked day load levelling looks (days after; before only down to today).
LEVELLING_DAYS_AFTER = 7
LEVELLING_DAYS_BEFORE = 3


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    is_buffer: bool


# --- people ----------------------------------------------------------------------------------
def advisors_on_duty(site: Site) -> list:
    """Advisors who take receptions at the site (StaffRole advisor, on duty), by name: their
    id and names (what the calendar, the slots and an assignment use; any other field is read
    when asked for).

    One join (a user has one advisor role per site: `staff_role_unique`), not `id IN (roles)`
    with every column of the user: 1.3 -> 0.9 ms in-process, Postgres planning 0.25 -> 0.10
    ms (docs/benchmarks.md, 2026-12-07 10:30); availability, the front desk and the booking
    ask it on every request."""
    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            staff_roles__site=site,
            staff_roles__role=Role.ADVISOR,
            staff_roles__on_duty=True,
        )
        .only("id", "username", "first_name", "last_name")
        .order_by("last_name", "first_name", "id")
    )


# --- calendar --------------------------------------------------------------------------------
def local_now(site: Site, now: datetime | None = None) -> datetime:
    return (now or timezone.now()).astimezone(site.tzinfo)


def local_today(site: Site, now: datetime | None = None) -> date:
    return local_now(site, now).date()


def day_bounds(site: Site, day: date) -> tuple[datetime, datetime]:
    tz = site.tzinfo
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def opening_of(site: Site, day: date) -> tuple[time, time] | None:
    """(opens, closes) on that day, or None when the site is closed (no hours or a closed date)."""
    calendar = _calendar(site, day, day)
    return calendar.get(day)


def closed_reason(site: Site, day: date) -> str:
    row = ClosedDate.objects.filter(site=site, date=day).first()
    if row:
        return row.reason or _("closed")
    if not OpeningHours.objects.filter(site=site, weekday=day.weekday()).exists():
        return _("closed on %(weekday)s") % {"weekday": _weekday_name(day)}
    return ""


def _weekday_name(day: date) -> str:
    return str(OpeningHours.Weekday(day.weekday()).label)


def _calendar(site: Site, first: date, last: date) -> dict[date, tuple[time, time]]:
    """{day: (opens, closes)} for the open days in [first, last] — one query."""
    return site_calendar(site, first, last)


def slot_grid(site: Site, day: date, opening: tuple[time, time] | None = None) -> list[Slot]:
    """The reception slots of one advisor on `day`.

    Slots sit on a clock grid of `slot_minutes` (9:00, 9:15, …) inside opening hours; a reception
    must end by closing time. In each cycle of `slots_per_cycle` slots the last
    `buffer_slots_per_cycle` are buffers (default: :45 of every hour), kept for walk-ins.
    """
    if opening is None:
        opening = opening_of(site, day)
    if opening is None:
        return []
    opens, closes = opening
    tz = site.tzinfo
    step = site.slot_minutes
    open_min = opens.hour * 60 + opens.minute
    close_min = closes.hour * 60 + closes.minute
    first = -(-open_min // step) * step  # round up onto the grid
    cycle = site.slots_per_cycle
    bookable_per_cycle = cycle - site.buffer_slots_per_cycle
    slots = []
    minute = first
    while minute + step <= close_min:
        start = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
        position = (minute // step) % cycle
        slots.append(
            Slot(
                start=start,
                end=start + timedelta(minutes=step),
                is_buffer=position >= bookable_per_cycle,
            )
        )
        minute += step
    return slots


def slot_at(site: Site, start: datetime) -> Slot | None:
    """The grid slot starting exactly at `start` (any time zone), or None."""
    local = start.astimezone(site.tzinfo)
    for slot in slot_grid(site, local.date()):
        if slot.start == local:
            return slot
    return None


# --- load ------------------------------------------------------------------------------------
def capacity_hours(site: Site, day: date, *, is_open: bool = True) -> Decimal:
    return site.daily_bookable_hours if is_open else Decimal("0.0")


def _bookings(
    site: Site, first: date, last: date
) -> tuple[dict[date, tuple[Decimal, int]], set[tuple[int, datetime]]]:
    """The active appointments of [first, last] read once: ({day: (booked hours, count)},
    {(advisor id, start)} of the taken slots). A site books ~10-25 a day, so a fortnight is a
    few hundred short rows; availability needs both for the same days, and one round trip
    instead of two is one wait for a core less under load (docs/benchmarks.md, 2026-12-07)."""
    return _tally(
        Appointment.objects.filter(
            site=site, day__range=(first, last), status__in=ACTIVE_STATUSES
        ).values_list("day", "advisor_id", "start", "estimated_hours")
    )


def _tally(rows) -> tuple[dict[date, tuple[Decimal, int]], set[tuple[int, datetime]]]:
    """`_bookings` of active appointments given as (day, advisor id, start, hours) rows."""
    booked: dict[date, tuple[Decimal, int]] = {}
    taken: set[tuple[int, datetime]] = set()
    for day, advisor_id, start, hours in rows:
        total, n = booked.get(day, (Decimal("0"), 0))
        booked[day] = (total + (hours or Decimal("0")), n + 1)
        taken.add((advisor_id, start))
    return booked, taken


def booked_hours(site: Site, day: date) -> Coalesce:
    """The day's active booked hours (0 when none), as an expression: the capacity row stores
    it with one UPDATE (`services._store_booked`)."""
    total = (
        Appointment.objects.filter(site=site, day=day, status__in=ACTIVE_STATUSES)
        .order_by()
        .values("day")
        .annotate(h=Sum("estimated_hours"))
        .values("h")
    )
    return Coalesce(Subquery(total), Value(Decimal("0.0")))


def _load_row(site: Site, day: date, opening, booked: Decimal, count: int) -> dict:
    capacity = capacity_hours(site, day, is_open=opening is not None)
    booked = Decimal(booked).quantize(Decimal("0.1"))
    share = (booked / capacity) if capacity else (Decimal("1") if booked else Decimal("0"))
    return {
        "date": day,
        "open": opening is not None,
        "opens": opening[0] if opening else None,
        "closes": opening[1] if opening else None,
        "capacity_hours": capacity,
        "booked_hours": booked,
        "remaining_hours": max(capacity - booked, Decimal("0.0")),
        "load_percent": int((share * 100).to_integral_value()),
        "appointments": count,
        "heavy": share >= HEAVY_LOAD_SHARE,
        "full": capacity > 0 and booked >= capacity,
    }


def day_load(*, site: Site, day: date) -> dict:
    """Capacity, booked and remaining labour hours of one day, and how loaded it is."""
    return week_load(site=site, start=day, days=1)[0]


def week_load(*, site: Site, start: date, days: int = 7) -> list[dict]:
    """`day_load` for `days` consecutive days in a constant number of queries."""
    last = start + timedelta(days=days - 1)
    calendar = _calendar(site, start, last)
    booked, _taken = _bookings(site, start, last)
    return [
        _load_row(site, day, calendar.get(day), *booked.get(day, (Decimal("0"), 0)))
        for day in (start + timedelta(days=i) for i in range(days))
    ]


# --- availability ----------------------------------------------------------------------------
def free_slots(
    *,
    site: Site,
    day: date,
    advisors: list,
    now: datetime | None = None,
    opening=None,
    taken: set | None = None,
    include_buffers: bool = False,
) -> list[dict]:
    """Free (advisor, slot) pairs on `day`, in time order; past slots are not free."""
    now = now or timezone.now()
    if taken is None:
        _booked, taken = _bookings(site, day, day)
    out = []
    names = [(advisor.pk, person_name(advisor)) for advisor in advisors]  # once, not per slot
    for slot in slot_grid(site, day, opening):
        if slot.start <= now or (slot.is_buffer and not include_buffers):
            continue
        for advisor_id, name in names:
            if (advisor_id, slot.start) not in taken:
                out.append(
                    {
                        "start": slot.start,
                        "end": slot.end,
                        "is_buffer": slot.is_buffer,
                        "advisor_id": advisor_id,
                        "advisor_name": name,
                    }
                )
    return out


def availability(
    *,
    site: Site,
    day: date,
    hours: Decimal | float | str,
    advisor=None,
    now: datetime | None = None,
) -> dict:
    """Free reception slots on `day` for a job of `hours` labour hours, with the day's capacity.

    When the job does not fit the day's remaining capacity, no slot is offered. When the day is
    full or heavily loaded (≥ 80 % after this job), `suggestions` lists the nearest days with the
    most free capacity and their first free slots (load levelling).
    """
    now = now or timezone.now()
    hours = Decimal(str(hours))
    today = local_today(site, now)
    advisors = [advisor] if advisor is not None else advisors_on_duty(site)
    first = max(today, day - timedelta(days=LEVELLING_DAYS_BEFORE))
    last = max(day, today) + timedelta(days=LEVELLING_DAYS_AFTER)
    calendar = _calendar(site, first, last)
    booked, taken = _bookings(site, first, last)

    def load(d: date) -> dict:
        return _load_row(site, d, calendar.get(d), *booked.get(d, (Decimal("0"), 0)))

    asked = load(day) if first <= day <= last else _load_row(site, day, None, Decimal("0"), 0)
    fits = asked["open"] and day >= today and asked["remaining_hours"] >= hours
    slots = (
        free_slots(
            site=site,
            day=day,
            advisors=advisors,
            now=now,
            opening=calendar.get(day),
            taken=taken,
        )
        if fits
        else []
    )
    after = asked["booked_hours"] + hours
    heavy = (
        not fits
        or not slots
        or (asked["capacity_hours"] and after / asked["capacity_hours"] >= HEAVY_LOAD_SHARE)
    )
    suggestions = []
    if heavy:
        candidates = []
        d = first
        while d <= last:
            row = load(d)
            if d != day and row["open"] and row["remaining_hours"] >= hours:
                candidates.append(row)
            d += timedelta(days=1)
        candidates.sort(key=lambda r: (r["load_percent"] // 10, abs((r["date"] - day).days)))
        for row in candidates:
            day_slots = free_slots(
                site=site,
                day=row["date"],
                advisors=advisors,
                now=now,
                opening=calendar.get(row["date"]),
                taken=taken,
            )
            if not day_slots:
                continue
            suggestions.append({**row, "slots": _quiet_hours_first(day_slots)[:4]})
            if len(suggestions) == 3:
                break
    return {
        **asked,
        "hours": hours,
        "fits": bool(fits),
        "closed_reason": "" if asked["open"] else closed_reason(site, day),
        "slots": slots,
        "suggestions": suggestions,
    }


def _quiet_hours_first(slots: list[dict]) -> list[dict]:
    """One slot per hour, hours with the most free advisors first (levels the reception)."""
    per_hour: dict[int, list[dict]] = defaultdict(list)
    for s in slots:
        per_hour[s["start"].hour].append(s)
    ranked = sorted(per_hour.values(), key=lambda group: (-len(group), group[0]["start"]))
    return [group[0] for group in ranked]


def least_loaded_advisor(*, site: Site, start: datetime, exclude_ids=()) -> object | None:
    """The on-duty advisor free at `start` with the fewest active appointments that day."""
    day = start.astimezone(site.tzinfo).date()
    advisors = [a for a in advisors_on_duty(site) if a.pk not in set(exclude_ids)]
    if not advisors:
        return None
    busy = set(
        Appointment.objects.filter(site=site, start=start, status__in=ACTIVE_STATUSES).values_list(
            "advisor_id", flat=True
        )
    )
    counts = dict(
        Appointment.objects.filter(site=site, day=day, status__in=ACTIVE_STATUSES)
        .values_list("advisor_id")
        .annotate(n=Count("id"))
    )
    free = [a for a in advisors if a.pk not in busy]
    if not free:
        return None
    return min(free, key=lambda a: (counts.get(a.pk, 0), a.pk))


# --- pages -----------------------------------------------------------------------------------
def _appointments(site: Site):
    return Appointment.objects.filter(site=site).select_related("customer", "vehicle", "advisor")


def appointment_list(*, site_ids, day: date | None = None, status: str | None = None):
    # repair_order: the API shows each appointment's RO id (a join, not a query per row)
    qs = Appointment.objects.filter(site_id__in=site_ids).select_related(
        "customer", "vehicle", "advisor", "site", "repair_order"
    )
    if day:
        qs = qs.filter(day=day)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("start", "id")


def day_board(*, site: Site, day: date, now: datetime | None = None) -> dict:
    """The front desk's day view: one column per advisor, one row per slot (buffers marked)."""
    now = now or timezone.now()
    opening = opening_of(site, day)
    grid = slot_grid(site, day, opening)
    advisors = advisors_on_duty(site)
    appts = list(_appointments(site).filter(day=day).order_by("start", "id"))
    active = {(a.advisor_id, a.start): a for a in appts if a.status in ACTIVE_STATUSES}
    # Inactive ones (cancelled, no-show) still show in the slot if nothing replaced them.
    for a in appts:
        active.setdefault((a.advisor_id, a.start), a)
    extra_advisors = {a.advisor_id for a in appts} - {adv.pk for adv in advisors}
    if extra_advisors:
        advisors += list(get_user_model().objects.filter(id__in=extra_advisors))
    rows = []
    grid_starts = {s.start for s in grid}
    for slot in grid:
        past = slot.end <= now
        rows.append(
            {
                "slot": slot,
                "past": past,
                "walk_ins": slot.is_buffer and not past,  # an empty buffer slot still ahead
                "cells": [
                    {"advisor": adv, "appointment": active.get((adv.pk, slot.start))}
                    for adv in advisors
                ],
            }
        )
    off_grid = [a for a in appts if a.start not in grid_starts]
    # the day's load from the appointments read above, counted as day_load counts them, with
    # the opening already read: three queries fewer than asking day_load
    booked, _taken = _tally(
        (a.day, a.advisor_id, a.start, a.estimated_hours)
        for a in appts
        if a.status in ACTIVE_STATUSES
    )
    return {
        "day": day,
        "open": opening is not None,
        "closed_reason": "" if opening else closed_reason(site, day),
        "advisors": [{"user": a, "name": person_name(a)} for a in advisors],
        "rows": rows,
        "off_grid": off_grid,
        "appointments": appts,
        "load": _load_row(site, day, opening, *booked.get(day, (Decimal("0"), 0))),
    }


def pick_list(*, site: Site, day: date) -> list[Appointment]:
    """The next day's bookings with the parts they need and whether each is reserved."""
    return list(
        _appointments(site)
        .filter(day=day, status__in=ACTIVE_STATUSES)
        .prefetch_related(
            Prefetch(
                "part_reservations",
                queryset=PartReservation.objects.select_related("reserved_by"),
            )
        )
        .order_by("start", "id")
    )


def parts_to_put_back(*, site: Site, since: date) -> list[PartReservation]:
    """Reserved parts of appointments that were cancelled or missed: back to the shelf."""
    return list(
        PartReservation.objects.filter(
            appointment__site=site,
            appointment__day__gte=since,
            appointment__status__in=[AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW],
            reserved_at__isnull=False,
        ).select_related("appointment", "appointment__vehicle")
    )


# --- welcome board ---------------------------------------------------------------------------
COMPOUND_SURNAMES = [
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "东方",
    "慕容",
    "司徒",
    "夏侯",
    "皇甫",
    "尉迟",
    "公孙",
    "令狐",
    "长孙",
    "宇文",
    "轩辕",
    "端木",
    "独孤",
    "南宫",
]

SURNAME_PINYIN = dict(
    pair.split(":")
    for pair in [
        "王:Wang",
        "李:Li",
        "张:Zhang",
        "刘:Liu",
        "陈:Chen",
        "杨:Yang",
        "黄:Huang",
        "赵:Zhao",
        "吴:Wu",
        "周:Zhou",
        "徐:Xu",
        "孙:Sun",
        "马:Ma",
        "朱:Zhu",
        "胡:Hu",
        "郭:Guo",
        "何:He",
        "高:Gao",
        "林:Lin",
        "罗:Luo",
        "郑:Zheng",
        "梁:Liang",
        "谢:Xie",
        "宋:Song",
        "唐:Tang",
        "许:Xu",
        "韩:Han",
        "冯:Feng",
        "邓:Deng",
        "曹:Cao",
        "彭:Peng",
        "曾:Zeng",
        "肖:Xiao",
        "田:Tian",
        "董:Dong",
        "袁:Yuan",
        "潘:Pan",
        "于:Yu",
        "蒋:Jiang",
        "蔡:Cai",
        "余:Yu",
        "杜:Du",
        "叶:Ye",
        "程:Cheng",
        "苏:Su",
        "魏:Wei",
        "吕:Lü",
        "丁:Ding",
        "任:Ren",
        "沈:Shen",
        "姚:Yao",
        "卢:Lu",
        "姜:Jiang",
        "崔:Cui",
        "钟:Zhong",
        "谭:Tan",
        "陆:Lu",
        "汪:Wang",
        "范:Fan",
        "金:Jin",
        "石:Shi",
        "廖:Liao",
        "贾:Jia",
        "夏:Xia",
        "韦:Wei",
        "付:Fu",
        "方:Fang",
        "白:Bai",
        "邹:Zou",
        "孟:Meng",
        "熊:Xiong",
        "秦:Qin",
        "邱:Qiu",
        "江:Jiang",
        "尹:Yin",
        "薛:Xue",
        "闫:Yan",
        "段:Duan",
        "雷:Lei",
        "侯:Hou",
        "龙:Long",
        "史:Shi",
        "陶:Tao",
        "黎:Li",
        "贺:He",
        "顾:Gu",
        "毛:Mao",
        "郝:Hao",
        "龚:Gong",
        "邵:Shao",
        "万:Wan",
        "钱:Qian",
        "严:Yan",
        "覃:Qin",
        "武:Wu",
        "戴:Dai",
        "莫:Mo",
        "孔:Kong",
        "向:Xiang",
        "汤:Tang",
        "欧阳:Ouyang",
        "司马:Sima",
        "诸葛:Zhuge",
        "上官:Shangguan",
        "东方:Dongfang",
        "慕容:Murong",
    ]
)


def surname_of(name: str) -> str:
    name = (name or "").strip()
    if not name:
        return ""
    if has_cjk(name):
        for compound in COMPOUND_SURNAMES:
            if name.startswith(compound) and len(name) > len(compound):
                return compound
        return name[0]
    return name.split()[-1]


def board_name(customer: Customer) -> str:
    """How the welcome board greets a customer, by their privacy choice, in the page language.

    full → 王建国; surname → 王先生 / Mr Wang; plate → "" (the board shows the plate only).
    """
    choice = customer.board_display
    if choice == Customer.BoardDisplay.PLATE:
        return ""
    if choice == Customer.BoardDisplay.FULL_NAME or customer.kind == Customer.Kind.COMPANY:
        return customer.name
    surname = surname_of(customer.name)
    lang = translation.get_language() or ""
    if lang.startswith("zh"):
        # Chinese puts the honorific after the surname: 王先生, 王女士 (no catalog needed).
        honorific = {Customer.Title.MR: "先生", Customer.Title.MS: "女士"}.get(
            customer.title, "先生/女士"
        )
        return f"{surname}{honorific}"
    surname = SURNAME_PINYIN.get(surname, surname)
    if customer.title == Customer.Title.MR:
        return _("Mr %(surname)s") % {"surname": surname}
    if customer.title == Customer.Title.MS:
        return _("Ms %(surname)s") % {"surname": surname}
    return _("Guest %(surname)s") % {"surname": surname}


WELCOME_GRACE = timedelta(minutes=15)


def welcome_board(*, site: Site, day: date, now: datetime | None = None) -> list[dict]:
    """Today's expected and arrived customers by time: greeting, plate, advisor. A guest who has
    arrived, or whose time is more than a quarter of an hour past, is `earlier`: the board
    shows who is due next first."""
    now = now or timezone.now()
    rows = []
    qs = _appointments(site).filter(
        day=day,
        status__in=[
            AppointmentStatus.BOOKED,
            AppointmentStatus.CONFIRMED,
            AppointmentStatus.ARRIVED,
        ],
    )
    for a in qs.order_by("start", "id"):
        rows.append(
            {
                "appointment": a,
                "time": a.start.astimezone(site.tzinfo),
                "greeting": board_name(a.customer),
                "plate": a.vehicle.plate or a.vehicle.vin[-6:],
                "advisor": person_name(a.advisor),
                "arrived": a.status == AppointmentStatus.ARRIVED,
                "earlier": a.status == AppointmentStatus.ARRIVED or a.start < now - WELCOME_GRACE,
            }
        )
    return rows


def confirmation_text(appointment: Appointment) -> str:
    """What the customer is told on booking: when, which car, and who will receive them."""
    site = appointment.site
    start = appointment.start.astimezone(site.tzinfo)
    return _(
        "%(customer)s, your appointment at %(site)s is on %(date)s at %(time)s for %(plate)s. "
        "Your service advisor %(advisor)s will receive you."
    ) % {
        "customer": appointment.customer.name,
        "site": site.name,
        "date": start.strftime("%Y-%m-%d"),
        "time": start.strftime("%H:%M"),
        "plate": appointment.vehicle.plate or appointment.vehicle.vin,
        "advisor": person_name(appointment.advisor),
    }


def search_vehicles(*, site: Site, q: str, limit: int = 12) -> list[dict]:
    """The lookup box's matches as (customer, vehicle) rows: plate, VIN, phone or name.

    Uses the archive's `customers.selectors.lookup` (one box, index-backed) when it is there.
    """
    q = (q or "").strip()
    if not q:
        return []
    try:
        from customers.selectors import lookup
    except ImportError:  # pragma: no cover - the archive app always provides it on main
        lookup = None
    rows: list[dict] = []
    if lookup is not None:
        for hit in lookup(site_ids=[site.pk], q=q, limit=limit):
            matched = getattr(hit, "matched_vehicle_ids", set()) or set()
            vehicles = sorted(hit.vehicles, key=lambda v: (v.pk not in matched, v.plate))
            rows.extend({"customer": hit.customer, "vehicle": v} for v in vehicles)
            if not vehicles:
                rows.append({"customer": hit.customer, "vehicle": None})
        return rows[:limit]
    from customers.models import Vehicle

    cond = (
        Q(plate__icontains=q.replace(" ", "")) | Q(vin__icontains=q) | Q(owner__name__icontains=q)
    )
    return [
        {"customer": v.owner, "vehicle": v}
        for v in Vehicle.objects.filter(Q(site=site) & cond).select_related("owner")[:limit]
    ]
