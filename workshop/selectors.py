"""Workshop reads: the wall board, the technician's jobs, the QC queue and the workload.

Each selector runs a fixed number of SQL queries whatever the number of cards.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from appointments.models import ACTIVE_STATUSES, Appointment
from dms.models import Role, Site, StaffRole
from dms.names import person_name
from workorders.models import JobLine, RepairOrder, ROStatus
from workorders.promise import (
    WORKSHOP_STATUSES,
    job_remaining_hours,
    promise_risk,
)

from .models import ClockEntry, JobSignOff, PartsRequest
from .transitions import WORKABLE_APPROVALS, clock_on_refusal, implausible_clock_time

W = JobLine.WorkStatus
S = ROStatus

# The board's columns, left to right, and the RO statuses each shows.
BOARD_COLUMNS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("to_dispatch", _("To dispatch"), (S.AUTHORIZED,)),
    ("in_progress", _("In progress"), (S.IN_PROGRESS, S.REWORK)),
    ("waiting_approval", _("Waiting approval"), (S.WAITING_APPROVAL,)),
    ("waiting_parts", _("Waiting parts"), (S.WAITING_PARTS,)),
    ("qc", _("QC"), (S.WORK_DONE, S.QC)),
    ("washing", _("Washing"), (S.WASHING,)),
    ("ready", _("Ready"), (S.READY,)),
]
BOARD_STATUSES = [s for _key, _label, statuses in BOARD_COLUMNS for s in statuses]
_name = person_name


def _job_lines_prefetch(prefix: str = "lines") -> Prefetch:
    return Prefetch(
        prefix,
        queryset=JobLine.objects.select_related("technician")
        .order_by("position", "id")
        .prefetch_related(
            Prefetch(
                "parts_requests",
                queryset=PartsRequest.objects.filter(arrived_at__isnull=True),
                to_attr="open_parts",
            ),
            Prefetch(
                "clock_entries",
                queryset=ClockEntry.objects.filter(ended_at__isnull=True),
                to_attr="open_clocks",
            ),
        ),
    )


_RO_FIELDS = (
    "id", "number", "status", "promised_at", "qc_fail_count",
    "vehicle__plate", "vehicle__vin", "vehicle__make", "vehicle__model",
    "advisor__username", "advisor__first_name", "advisor__last_name",
)  # fmt: skip
_RO_EXTRA = ("waiting_part", "parts_expected_date", "qc_fail_reason")
_JOB_FIELDS = (
    "id", "repair_order_id", "description", "standard_hours", "actual_hours", "technician_id",
    "technician__username", "technician__first_name", "technician__last_name", "bay",
    "work_status", "approval", "is_additional",
)  # fmt: skip


def _name_of(row: dict, prefix: str) -> str:
    username = row.get(f"{prefix}__username")
    if username is None:
        return ""
    family = (row.get(f"{prefix}__last_name") or "").strip()
    given = (row.get(f"{prefix}__first_name") or "").strip()
    if not (family or given):
        return username
    if any("\u4e00" <= ch <= "\u9fff" for ch in family + given):
        return f"{family}{given}"
    return " ".join(p for p in (given, family) if p)


def _open_part_annotations() -> dict[str, Subquery]:
    """A job line's open parts request (at most one: a partial unique index), what is missing
    and when it is expected, looked up per job in that small index."""
    open_parts = PartsRequest.objects.filter(job=OuterRef("pk"), arrived_at__isnull=True).order_by()
    return {
        "open_part": Subquery(open_parts.values("part")[:1]),
        "open_part_expected": Subquery(open_parts.values("expected_date")[:1]),
    }


def _job_row(job: dict, *, ro_status: str, reworking: bool, clocked_on: bool, labels, refusals):
    """A job line read as values (_JOB_FIELDS and `_open_part_annotations`) as the board's cards
    and the technician's tablet show it, with whether it can be clocked on now or why not.
    `labels`: the approvals' labels, translated once per page; `refusals`: the refusal of each
    (RO status, approval, work status, rework) met so far, filled here."""
    key = (ro_status, job["approval"], job["work_status"], reworking)
    if key not in refusals:
        refusals[key] = clock_on_refusal(
            ro_status=ro_status,
            approval=job["approval"],
            work_status=job["work_status"],
            reworking=reworking,
        )
    return {
        "id": job["id"],
        "description": job["description"],
        "standard_hours": job["standard_hours"],
        "actual_hours": job["actual_hours"],
        "technician_id": job["technician_id"],
        "technician": _name_of(job, "technician"),
        "bay": job["bay"],
        "work_status": job["work_status"],
        "approval": job["approval"],
        "approval_label": labels[job["approval"]],
        "is_additional": job["is_additional"],
        "clocked_on": clocked_on,
        "parts": (
            {"part": job["open_part"], "expected_date": job["open_part_expected"]}
            if job["open_part"] is not None
            else None
        ),
        "workable": job["approval"] in WORKABLE_APPROVALS,
        "refusal": refusals[key],
    }


def board_columns(*, site: Site, now: datetime | None = None) -> list[dict[str, Any]]:
    """The wall board: columns by state, cards with plate, model, jobs, technician, bay,
    promised time, time left and late risk. Two queries, whatever the number of cards; rows are
    read as values (no model instances) to keep a full wall cheap."""
    now = now or timezone.now()
    ro_fields = _RO_FIELDS + tuple(
        f for f in _RO_EXTRA if f in {x.name for x in RepairOrder._meta.get_fields()}
    )
    ros = list(
        RepairOrder.objects.filter(site=site, status__in=BOARD_STATUSES)
        .order_by("promised_at", "opened_at", "id")
        .values(*ro_fields)
    )
    ro_ids = [ro["id"] for ro in ros]
    # each job with its open parts request and whether someone is clocked on it, looked up per
    # job in small partial indexes (one open request per job, one open clock per technician)
    jobs_by_ro: dict[int, list[dict]] = defaultdict(list)
    for job in (
        JobLine.objects.filter(repair_order_id__in=ro_ids)
        .exclude(approval=JobLine.Approval.DECLINED)
        .annotate(
            **_open_part_annotations(),
            open_clock=Exists(
                ClockEntry.objects.filter(job=OuterRef("pk"), ended_at__isnull=True).order_by()
            ),
        )
        .order_by("repair_order_id", "position", "id")
        .values(*_JOB_FIELDS, "open_part", "open_part_expected", "open_clock")
    ):
        jobs_by_ro[job["repair_order_id"]].append(job)
    refusals: dict[tuple, str | None] = {}
    # each label translated once per board, not once per job
    labels = {value: str(label) for value, label in JobLine.Approval.choices}
    by_status: dict[str, list] = defaultdict(list)
    for ro in ros:
        by_status[ro["status"]].append(
            _board_card(ro, jobs_by_ro.get(ro["id"], []), refusals, now, labels)
        )
    columns = []
    for key, label, statuses in BOARD_COLUMNS:
        cards = [card for status in statuses for card in by_status.get(status, [])]
        if len(statuses) > 1:
            cards.sort(key=lambda c: (c["promised_at"] is None, c["promised_at"] or now, c["id"]))
        columns.append({"key": key, "label": label, "cards": cards})
    return columns


def _board_card(ro, jobs, refusals, now, labels) -> dict[str, Any]:
    status = ro["status"]
    reworking = ro["qc_fail_count"] > 0
    remaining = Decimal("0")
    job_dicts = []
    for job in jobs:
        if status in WORKSHOP_STATUSES:
            remaining += job_remaining_hours(
                approval=job["approval"],
                work_status=job["work_status"],
                standard_hours=job["standard_hours"],
                actual_hours=job["actual_hours"],
            )
        job_dicts.append(
            _job_row(
                job,
                ro_status=status,
                reworking=reworking,
                clocked_on=job["open_clock"],
                labels=labels,
                refusals=refusals,
            )
        )
    promised_at = ro["promised_at"]
    return {
        "id": ro["id"],
        "number": ro["number"],
        "status": status,
        "rework": status == S.REWORK or (reworking and status in WORKSHOP_STATUSES),
        "plate": ro["vehicle__plate"] or ro["vehicle__vin"][-6:],
        "model": " ".join(p for p in (ro["vehicle__make"], ro["vehicle__model"]) if p),
        "advisor": _name_of(ro, "advisor"),
        "promised_at": promised_at,
        "minutes_left": (
            int((promised_at - now).total_seconds() // 60) if promised_at is not None else None
        ),
        "remaining_hours": remaining.quantize(Decimal("0.01")),
        "risk": promise_risk(
            promised_at=promised_at, now=now, remaining_hours=remaining, status=status
        ),
        "waiting_part": ro.get("waiting_part", "") if status == S.WAITING_PARTS else "",
        "parts_expected_date": ro.get("parts_expected_date"),
        "qc_fail_reason": ro.get("qc_fail_reason", "") if status == S.REWORK else "",
        "jobs": job_dicts,
        "unassigned": sum(1 for j in job_dicts if j["workable"] and not j["technician_id"]),
        "technicians": sorted({j["technician"] for j in job_dicts if j["technician"]}),
        "bays": sorted({j["bay"] for j in job_dicts if j["bay"]}),
    }


def _day_bounds(site: Site, day: date) -> tuple[datetime, datetime]:
    tz = site.tzinfo
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, start + timedelta(days=1)


def technician_workload(
    *, site: Site, day: date, now: datetime | None = None, days_ahead: int = 5
) -> dict[str, Any]:
    """Per technician: the standard hours assigned to them and not yet done, hours clocked on
    the day, against the hours on duty; per day: booked hours against the bookable capacity."""
    now = now or timezone.now()
    roles = list(
        StaffRole.objects.filter(site=site, role=Role.TECHNICIAN, user__is_active=True)
        .select_related("user", "team_lead")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    assigned = {
        row["technician_id"]: row
        for row in JobLine.objects.filter(
            repair_order__site=site,
            repair_order__status__in=WORKSHOP_STATUSES,
            technician__isnull=False,
            approval__in=WORKABLE_APPROVALS,
        )
        .exclude(work_status=W.DONE)
        .values("technician_id")
        .annotate(hours=Sum("standard_hours"), jobs=Count("id"))
    }
    start, end = _day_bounds(site, day)
    clocked: dict[int, Decimal] = defaultdict(Decimal)
    on_job: dict[int, str] = {}
    # the entries that overlap the day (one never spans more than a day: those started since
    # the day before and not ended before the day began) and the open ones, both by index
    day_or_open = Q(
        started_at__gte=start - timedelta(days=1), started_at__lt=end, ended_at__gt=start
    ) | Q(ended_at__isnull=True)
    for tech_id, started, ended, description, number in (
        ClockEntry.objects.filter(
            day_or_open, technician_id__in=[r.user_id for r in roles], job__repair_order__site=site
        )
        .order_by()
        .values_list(
            "technician_id",
            "started_at",
            "ended_at",
            "job__description",
            "job__repair_order__number",
        )
    ):
        until = min(ended or now, end)
        since = max(started, start)
        if until > since:
            clocked[tech_id] += Decimal(int((until - since).total_seconds())) / Decimal(3600)
        if ended is None:
            on_job[tech_id] = f"{number} · {description}"
    duty = site.technician_hours_per_day
    technicians = []
    for role in roles:
        row = assigned.get(role.user_id, {})
        hours = row.get("hours") or Decimal("0")
        technicians.append(
            {
                "id": role.user_id,
                "name": _name(role.user),
                "on_duty": role.on_duty,
                "team_lead_id": role.team_lead_id,
                "team_lead": _name(role.team_lead),
                "hours_on_duty": duty if role.on_duty else Decimal("0"),
                "assigned_hours": hours.quantize(Decimal("0.1")),
                "open_jobs": row.get("jobs", 0),
                "clocked_hours": clocked[role.user_id].quantize(Decimal("0.1")),
                "clocked_on": on_job.get(role.user_id, ""),
                "load_pct": int(hours * 100 / duty) if duty and role.on_duty else 0,
                "overloaded": role.on_duty and hours > duty,
            }
        )
    booked = dict(
        Appointment.objects.filter(
            site=site,
            day__gte=day,
            day__lt=day + timedelta(days=days_ahead),
            status__in=ACTIVE_STATUSES,
        )
        .values_list("day")
        .annotate(hours=Sum("estimated_hours"))
        .values_list("day", "hours")
    )
    capacity = site.daily_bookable_hours
    days = []
    for offset in range(days_ahead):
        d = day + timedelta(days=offset)
        hours = booked.get(d) or Decimal("0")
        days.append(
            {
                "day": d,
                "booked_hours": hours,
                "capacity": capacity,
                "load_pct": int(hours * 100 / capacity) if capacity else 0,
                "over": hours > capacity,
            }
        )
    return {"technicians": technicians, "days": days}


_MY_RO_FIELDS = (
    "number", "status", "promised_at", "qc_fail_count", "concern", "waiting_part",
    "qc_fail_reason", "vehicle__plate", "vehicle__vin", "vehicle__make", "vehicle__model",
)  # fmt: skip


def my_jobs(*, site: Site, technician, now: datetime | None = None) -> list[dict[str, Any]]:
    """The technician's jobs: everything assigned to them still in the workshop, and what they
    finished today. Each with whether it can be clocked on now, or why not.

    Read as values, as the board's cards are: the tablet is the page the workshop opens most
    after the board, and making a job line, its repair order, vehicle and users as model
    instances cost more than the three queries (docs/benchmarks.md, 2026-12-07 07:15)."""
    now = now or timezone.now()
    start, _end = _day_bounds(site, timezone.localtime(now, site.tzinfo).date())
    # Which jobs, one index per reason (the site's open repair orders, today's sign-offs, the
    # technician's jobs in progress): as one OR the planner read every line the technician
    # ever worked on (~9,000 after four years) to keep a dozen.
    mine = JobLine.objects.filter(technician=technician).order_by()
    ids = list(
        mine.filter(repair_order__site=site, repair_order__status__in=WORKSHOP_STATUSES)
        .values_list("pk", flat=True)
        .union(
            mine.filter(signed_off_at__gte=start).values_list("pk", flat=True),
            mine.filter(work_status=W.IN_PROGRESS).values_list("pk", flat=True),
        )
    )
    jobs = list(
        JobLine.objects.filter(pk__in=ids, repair_order__site=site, technician=technician)
        .exclude(approval=JobLine.Approval.DECLINED)
        .annotate(**_open_part_annotations())
        .order_by("repair_order__promised_at", "repair_order_id", "position", "id")
        .values(
            *_JOB_FIELDS,
            "signed_off_at",
            *(f"repair_order__{f}" for f in _MY_RO_FIELDS),
            "open_part",
            "open_part_expected",
        )
    )
    open_clocks: dict[int, list[datetime]] = defaultdict(list)
    for job_id, started_at in (
        ClockEntry.objects.filter(job_id__in=[j["id"] for j in jobs], ended_at__isnull=True)
        .order_by("-started_at")
        .values_list("job_id", "started_at")
    ):
        open_clocks[job_id].append(started_at)
    # each label translated once per page, not once per job
    work_labels = {value: str(label) for value, label in W.choices}
    approval_labels = {value: str(label) for value, label in JobLine.Approval.choices}
    refusals: dict[tuple, str | None] = {}
    out = []
    for job in jobs:
        ro_status = job["repair_order__status"]
        qc_fail_count = job["repair_order__qc_fail_count"]
        clocks = open_clocks.get(job["id"], [])
        item = _job_row(
            job,
            ro_status=ro_status,
            reworking=qc_fail_count > 0,
            clocked_on=bool(clocks),
            labels=approval_labels,
            refusals=refusals,
        )
        out.append(
            {
                **item,
                "work_status_label": work_labels[job["work_status"]],
                "signed_off_at": job["signed_off_at"],
                "ro_id": job["repair_order_id"],
                "ro_number": job["repair_order__number"],
                "ro_status": ro_status,
                "plate": job["repair_order__vehicle__plate"]
                or job["repair_order__vehicle__vin"][-6:],
                "model": " ".join(
                    p
                    for p in (
                        job["repair_order__vehicle__make"],
                        job["repair_order__vehicle__model"],
                    )
                    if p
                ),
                "concern": job["repair_order__concern"],
                "promised_at": job["repair_order__promised_at"],
                "waiting_part": job["repair_order__waiting_part"],
                "qc_fail_reason": job["repair_order__qc_fail_reason"]
                if ro_status == S.REWORK or qc_fail_count
                else "",
                "can_sign_off": job["work_status"] == W.IN_PROGRESS,
                # the running clock (the page counts it up) and whether signing now would be
                # implausibly short for the standard hours
                "clocked_since": clocks[0] if clocks else None,
                "short_time": job["work_status"] == W.IN_PROGRESS
                and implausible_clock_time(
                    standard_hours=job["standard_hours"],
                    actual_hours=job["actual_hours"]
                    + sum((Decimal((now - started).total_seconds()) / 3600) for started in clocks),
                ),
                "can_request_parts": item["workable"]
                and job["work_status"] in (W.PENDING, W.IN_PROGRESS)
                and ro_status in (S.AUTHORIZED, S.IN_PROGRESS, S.REWORK),
            }
        )
    return out


def qc_queue(*, site: Site) -> list[dict[str, Any]]:
    """Repair orders waiting for the road test and final inspection, with their lines and who
    signed each."""
    ros = (
        RepairOrder.objects.filter(site=site, status__in=(S.WORK_DONE, S.QC))
        .select_related("vehicle", "advisor")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=JobLine.objects.filter(approval__in=WORKABLE_APPROVALS)
                .select_related("technician")
                .order_by("position", "id")
                .prefetch_related(
                    Prefetch(
                        "sign_offs",
                        queryset=JobSignOff.objects.order_by("-signed_at"),
                        to_attr="signings",
                    )
                ),
            )
        )
        .order_by("work_done_at", "promised_at", "id")
    )
    out = []
    for ro in ros:
        out.append(
            {
                "id": ro.pk,
                "number": ro.number,
                "plate": ro.vehicle.plate or ro.vehicle.vin[-6:],
                "model": " ".join(p for p in (ro.vehicle.make, ro.vehicle.model) if p),
                "concern": ro.concern,
                "advisor": _name(ro.advisor),
                "promised_at": ro.promised_at,
                "qc_fail_count": ro.qc_fail_count,
                "lines": [
                    {
                        "id": line.pk,
                        "key": f"line_{line.pk}",
                        "description": line.description,
                        "technician": _name(line.technician),
                        "standard_hours": line.standard_hours,
                        "actual_hours": line.actual_hours,
                        "signed_off_at": line.signed_off_at,
                        "report": line.signings[0].report if line.signings else "",
                    }
                    for line in ro.lines.all()
                ],
            }
        )
    return out
