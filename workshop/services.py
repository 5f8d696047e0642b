"""Workshop writes: dispatching jobs, the technician's job clock, parts waits, sign-off and QC.

Every service is keyword-only, takes the acting user, runs in its own transaction, locks the
repair order before its job lines (always in that order), and writes an audit row. The
repair order's status is never set here: the workshop calls the repair-order services
(`workorders.services.ro_start`, `ro_wait_parts`, `ro_resume`, `ro_complete_work`, `ro_qc_pass`,
`ro_qc_fail`, `job_propose_additional`).
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dms import audit
from dms.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from dms.models import DispatchMode, Role, Site, StaffRole
from dms.permissions import has_role, require_role, roles_of
from dms.statemachine import allowed_moves, lock
from workorders import services as ro_services
from workorders.models import QC_ITEMS as RO_QC_ITEMS
from workorders.models import JobLine, RepairOrder, ROStatus

from .models import Bay, ClockEntry, JobSignOff, PartsRequest, QCInspection
from .selectors import person_name
from .transitions import (
    ASSIGNABLE_RO_STATUSES,
    JOB_TRANSITIONS,
    WORKABLE_APPROVALS,
    clock_on_refusal,
    implausible_clock_time,
)

W = JobLine.WorkStatus

# The technician's self-check before signing a job (seed 001: 完工后自检, 签字).
SELF_CHECK_ITEMS: list[tuple[str, Any]] = [
    ("work_as_ordered", gettext_lazy("All work on this line done as written on the repair order")),
    ("parts_fitted", gettext_lazy("Parts fitted correctly; the old parts kept for the customer")),
    ("fasteners", gettext_lazy("Bolts, clamps and connectors tightened to specification")),
    ("fluids", gettext_lazy("Fluid levels topped up, no leaks")),
    ("no_warnings", gettext_lazy("No warning lights; fault codes cleared")),
    ("clean_no_tools", gettext_lazy("No tools or rags left in the car; covers still fitted")),
]

# The QC inspector's checklist is the repair order's one checklist (workorders.models.QC_ITEMS,
# which `ro_qc_pass` checks): every item but "lines_checked", which the inspector ticks by
# verifying each job line (keys `line_<id>`).
QC_ITEMS: list[tuple[str, Any]] = [
    (key, label) for key, label in RO_QC_ITEMS.items() if key != "lines_checked"
]


# --- helpers ---------------------------------------------------------------------------------
def hours_between(start: datetime, end: datetime) -> Decimal:
    seconds = Decimal(int((end - start).total_seconds()))
    return (seconds / Decimal(3600)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _locked_job(job_id: int, actor) -> tuple[RepairOrder, JobLine]:
    """Lock the job's repair order, then the job (parent before child). Another site's → 404."""
    ro_id = JobLine.objects.filter(pk=job_id).values_list("repair_order_id", flat=True).first()
    if ro_id is None:
        raise NotFoundError(_("There is no such job."))
    ro = RepairOrder.objects.select_for_update(of=("self",)).select_related("site").get(pk=ro_id)
    if not has_role(actor, ro.site):
        raise NotFoundError(_("There is no such job."))
    job = lock(JobLine, job_id)
    return ro, job


def _locked_ro(repair_order_id: int, actor) -> RepairOrder:
    ro = (
        RepairOrder.objects.select_for_update(of=("self",))
        .select_related("site")
        .filter(pk=repair_order_id)
        .first()
    )
    if ro is None or not has_role(actor, ro.site):
        raise NotFoundError(_("There is no such repair order."))
    return ro


def _move_job(
    job: JobLine, *, to: str, site: Site, actor, action: str, note: str = "", data=None, **extra
):
    """Move a job's work status by the table, save the changed fields, audit it."""
    current = job.work_status
    if current == to:
        return
    if to not in JOB_TRANSITIONS.get(current, ()):
        raise ConflictError(
            _("This job cannot go from “%(from)s” to “%(to)s”.")
            % {"from": W(current).label, "to": W(to).label},
            extra={"state": current, "allowed": allowed_moves(JOB_TRANSITIONS, current)},
        )
    job.work_status = to
    for name, value in extra.items():
        setattr(job, name, value)
    job.save(update_fields=["work_status", *extra])
    audit.record(
        subject=job, site=site, action=action, actor=actor, from_state=current, to_state=to,
        note=note, data={"repair_order_id": job.repair_order_id, **(data or {})},
    )  # fmt: skip


def _technician_role(site: Site, technician_id: Any) -> StaffRole:
    try:
        tid = int(technician_id)
    except (TypeError, ValueError):
        raise ApplicationError(
            _("Choose a technician."), fields={"technician_id": [_("Choose a technician.")]}
        ) from None
    role = (
        StaffRole.objects.select_related("user")
        .filter(site=site, role=Role.TECHNICIAN, user_id=tid, user__is_active=True)
        .first()
    )
    if role is None:
        msg = _("This person is not a technician at this site.")
        raise ApplicationError(msg, fields={"technician_id": [msg]})
    return role


_name = person_name


def check_dispatch_right(*, actor, site: Site, technician_role: StaffRole | None = None) -> None:
    """Who assigns jobs depends on the site's dispatch mode (000): the workshop dispatcher, or
    in team mode the advisor who leads the technician's team. The manager always may."""
    if Role.MANAGER in _roles(actor, site):
        return
    if site.dispatch_mode == DispatchMode.TEAM:
        if not has_role(actor, site, Role.ADVISOR):
            raise PermissionDeniedError(
                _(
                    "This site works in team mode: the advisor who leads the team assigns "
                    "jobs, not the dispatcher."
                ),
                extra={"dispatch_mode": site.dispatch_mode},
            )
        if technician_role is not None and technician_role.team_lead_id != actor.pk:
            raise PermissionDeniedError(
                _("%(name)s is not in your team. In team mode you assign your own team only.")
                % {"name": _name(technician_role.user)},
                extra={"dispatch_mode": site.dispatch_mode},
            )
        return
    if not has_role(actor, site, Role.DISPATCHER):
        raise PermissionDeniedError(
            _(
                "This site works in dispatcher mode: the workshop dispatcher assigns jobs to "
                "technicians and bays."
            ),
            extra={"dispatch_mode": site.dispatch_mode},
        )


def _roles(actor, site) -> set[str]:
    return roles_of(actor, site)


def can_dispatch(*, actor, site: Site) -> bool:
    try:
        check_dispatch_right(actor=actor, site=site)
    except PermissionDeniedError:
        return False
    return True


def _clocking_technician(actor, job: JobLine, site: Site):
    """The technician whose clock this is: the job's technician. Only they (or the manager on
    their behalf) clock it."""
    require_role(actor, site, Role.TECHNICIAN)
    if job.technician_id is None:
        raise ConflictError(_("This job is not assigned to a technician yet."))
    if job.technician_id != actor.pk and Role.MANAGER not in _roles(actor, site):
        raise PermissionDeniedError(
            _("This job is assigned to %(name)s.") % {"name": _name(job.technician)}
        )
    return job.technician


def _refusal(ro: RepairOrder, job: JobLine) -> str | None:
    return clock_on_refusal(
        ro_status=ro.status,
        approval=job.approval,
        work_status=job.work_status,
        reworking=ro.qc_fail_count > 0,
    )


def _close_entry(entry: ClockEntry, job: JobLine, now: datetime) -> ClockEntry:
    if now < entry.started_at:
        raise ApplicationError(
            _("The clock-off time is before the clock-on time."),
            fields={"now": [_("The clock-off time is before the clock-on time.")]},
        )
    entry.ended_at = now
    entry.save(update_fields=["ended_at"])
    job.actual_hours = actual_hours_of(job)
    job.save(update_fields=["actual_hours"])
    return entry


def actual_hours_of(job: JobLine) -> Decimal:
    """Actual hours of a job: the sum of its closed clock entries, rounded once (not per pair)."""
    seconds = sum(
        int((end - start).total_seconds())
        for start, end in ClockEntry.objects.filter(job=job, ended_at__isnull=False).values_list(
            "started_at", "ended_at"
        )
    )
    return (Decimal(seconds) / Decimal(3600)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _close_open_clocks(job: JobLine, now: datetime, actor, site: Site) -> None:
    for entry in ClockEntry.objects.select_for_update().filter(job=job, ended_at__isnull=True):
        _close_entry(entry, job, max(now, entry.started_at))
        audit.record(
            subject=job, site=site, action="clock_off", actor=actor,
            data={"technician_id": entry.technician_id, "entry_id": entry.pk, "auto": True},
        )  # fmt: skip


def _workable(job: JobLine) -> bool:
    return job.approval in WORKABLE_APPROVALS


# --- dispatching -----------------------------------------------------------------------------
def job_assign(*, job_id: int, technician_id: int, actor, bay: str = "") -> JobLine:
    """Give a job to a technician (and a bay). An empty `bay` keeps the job's current bay."""
    with transaction.atomic():
        ro, job = _locked_job(job_id, actor)
        site = ro.site
        check_dispatch_right(actor=actor, site=site)
        tech_role = _technician_role(site, technician_id)
        check_dispatch_right(actor=actor, site=site, technician_role=tech_role)
        technician = tech_role.user
        if not tech_role.on_duty:
            msg = _("%(name)s is not on duty.") % {"name": _name(technician)}
            raise ApplicationError(msg, fields={"technician_id": [msg]})
        bay = (bay or "").strip()
        if bay and not Bay.objects.filter(site=site, code=bay).exists():
            msg = _("There is no bay “%(bay)s” at this site.") % {"bay": bay}
            raise ApplicationError(msg, fields={"bay": [msg]})
        if ro.status not in ASSIGNABLE_RO_STATUSES:
            raise ConflictError(
                _("Jobs of a repair order in “%(status)s” cannot be assigned.")
                % {"status": ROStatus(ro.status).label}
            )
        if job.approval == JobLine.Approval.DECLINED:
            raise ConflictError(_("The customer declined this job."))
        if job.work_status == W.DONE:
            raise ConflictError(_("This job is already signed off as done."))
        new_bay = bay or job.bay
        if job.technician_id == technician.pk and job.bay == new_bay:
            return job  # the same assignment again: nothing to do
        if (
            job.technician_id != technician.pk
            and ClockEntry.objects.filter(job=job, ended_at__isnull=True).exists()
        ):
            raise ConflictError(
                _("%(name)s is clocked on this job; they must clock off before it is reassigned.")
                % {"name": _name(job.technician)}
            )
        before = {"technician_id": job.technician_id, "bay": job.bay}
        job.technician = technician
        job.bay = new_bay
        job.save(update_fields=["technician", "bay"])
        audit.record(
            subject=job, site=site, action="job_assigned", actor=actor,
            note=_("Assigned to %(name)s") % {"name": _name(technician)},
            data={"repair_order_id": ro.pk, "before": before,
                  "technician_id": technician.pk, "bay": new_bay},
        )  # fmt: skip
    return job


# --- the job clock ---------------------------------------------------------------------------
def job_clock_on(*, job_id: int, actor, now: datetime | None = None) -> ClockEntry:
    """Start the clock on a job. One job at a time per technician; refused with the reason while
    the RO is not authorized/in progress/rework or the job waits on approval or parts. The first
    clock-on moves the RO to in progress (via `ro_start`)."""
    with transaction.atomic():
        ro, job = _locked_job(job_id, actor)
        # the time is read once the job is ours: a clock-off of the same job from another
        # screen, waiting on the lock, reads a later time than this clock-on writes
        now = now or timezone.now()
        site = ro.site
        technician = _clocking_technician(actor, job, site)
        reason = _refusal(ro, job)
        if reason:
            raise ConflictError(reason, extra={"reason": reason})
        # at most one open entry per technician (the unique partial index
        # one_open_clock_per_technician), so no ORDER BY: with first()'s "latest first"
        # Postgres walked the technician's whole history backwards by start time instead
        # (16,000 entries, 10-190 ms a clock-on at the group dataset; docs/benchmarks.md)
        open_entry = next(
            iter(
                ClockEntry.objects.select_for_update(of=("self",))
                .select_related("job__repair_order")
                .filter(technician=technician, ended_at__isnull=True)
                .order_by()[:1]
            ),
            None,
        )
        if open_entry is not None:
            if open_entry.job_id == job.pk:
                return open_entry  # already on this job: a repeated request
            raise ConflictError(
                _("%(name)s is already clocked on “%(job)s” (%(ro)s). Clock off that job first.")
                % {
                    "name": _name(technician),
                    "job": open_entry.job.description,
                    "ro": open_entry.job.repair_order.number,
                },
                extra={"open_job_id": open_entry.job_id},
            )
        try:
            with transaction.atomic():
                entry = ClockEntry.objects.create(
                    site_id=ro.site_id, job=job, technician=technician, started_at=now
                )
        except IntegrityError:
            raise ConflictError(
                _("%(name)s is already clocked on another job. Clock off that job first.")
                % {"name": _name(technician)}
            ) from None
        if job.work_status != W.IN_PROGRESS:
            _move_job(
                job, to=W.IN_PROGRESS, site=site, actor=actor, action="job_started",
                signed_off_at=None,
            )  # fmt: skip
        audit.record(
            subject=job, site=site, action="clock_on", actor=actor,
            data={"repair_order_id": ro.pk, "technician_id": technician.pk, "entry_id": entry.pk},
        )  # fmt: skip
        if ro.status in (ROStatus.AUTHORIZED, ROStatus.REWORK):
            ro_services.ro_start(repair_order_id=ro.pk, actor=actor)
    return entry


def job_clock_off(*, job_id: int, actor, now: datetime | None = None) -> ClockEntry:
    """Stop the clock; the job's actual hours become the sum of its clock entries."""
    with transaction.atomic():
        ro, job = _locked_job(job_id, actor)
        # read after the lock: a clock-on of this job that held it started before this time
        now = now or timezone.now()
        technician = _clocking_technician(actor, job, ro.site)
        entry = (
            ClockEntry.objects.select_for_update()
            .filter(job=job, technician=technician, ended_at__isnull=True)
            .first()
        )
        if entry is None:
            last = ClockEntry.objects.filter(job=job, technician=technician).first()
            if last is not None:
                return last  # already clocked off: a repeated request
            raise ConflictError(_("You are not clocked on this job."))
        _close_entry(entry, job, now)
        audit.record(
            subject=job, site=ro.site, action="clock_off", actor=actor,
            data={"repair_order_id": ro.pk, "technician_id": technician.pk, "entry_id": entry.pk,
                  "hours": str(hours_between(entry.started_at, entry.ended_at))},
        )  # fmt: skip
    return entry


# --- waiting for parts -----------------------------------------------------------------------
def job_request_parts(
    *, job_id: int, actor, part: str, expected_date: date, now: datetime | None = None
) -> PartsRequest:
    """The job stops for a missing part, with the part and the expected date. The clock stops;
    when no other job of the RO can go on, the RO waits for parts (`ro_wait_parts`)."""
    now = now or timezone.now()
    part = (part or "").strip()
    errors: dict[str, list[str]] = {}
    if not part:
        errors["part"] = [_("Say which part is missing.")]
    if not isinstance(expected_date, date):
        errors["expected_date"] = [_("Give the date the part is expected.")]
    if errors:
        raise ApplicationError(next(iter(errors.values()))[0], fields=errors)
    with transaction.atomic():
        ro, job = _locked_job(job_id, actor)
        site = ro.site
        require_role(actor, site, Role.TECHNICIAN, Role.DISPATCHER)
        today = timezone.localtime(now, site.tzinfo).date()
        if expected_date < today:
            msg = _("The expected date is in the past.")
            raise ApplicationError(msg, fields={"expected_date": [msg]})
        open_request = PartsRequest.objects.filter(job=job, arrived_at__isnull=True).first()
        if open_request is not None:
            if open_request.part == part and open_request.expected_date == expected_date:
                return open_request
            raise ConflictError(
                _("This job already waits for “%(part)s”.") % {"part": open_request.part}
            )
        if ro.status not in (ROStatus.AUTHORIZED, ROStatus.IN_PROGRESS, ROStatus.REWORK):
            raise ConflictError(
                _("A repair order in “%(status)s” cannot wait for parts.")
                % {"status": ROStatus(ro.status).label}
            )
        if not _workable(job):
            raise ConflictError(_("Only work the customer agreed to can wait for parts."))
        _close_open_clocks(job, now, actor, site)
        request = PartsRequest.objects.create(
            job=job, part=part, expected_date=expected_date, requested_by=actor, requested_at=now
        )
        _move_job(
            job, to=W.WAITING_PARTS, site=site, actor=actor, action="job_waiting_parts",
            note=f"{part} ({expected_date:%Y-%m-%d})",
        )  # fmt: skip
        others_can_go_on = (
            JobLine.objects.filter(repair_order=ro, approval__in=WORKABLE_APPROVALS)
            .exclude(pk=job.pk)
            .exclude(work_status__in=[W.DONE, W.WAITING_PARTS])
            .exists()
        )
        if ro.status in (ROStatus.AUTHORIZED, ROStatus.IN_PROGRESS) and not others_can_go_on:
            ro_services.ro_wait_parts(
                repair_order_id=ro.pk, actor=actor, part=part, expected_date=expected_date
            )
    return request


def job_parts_arrived(*, job_id: int, actor, now: datetime | None = None) -> JobLine:
    """The part is here: the job can be clocked on again, and a waiting RO resumes."""
    now = now or timezone.now()
    with transaction.atomic():
        ro, job = _locked_job(job_id, actor)
        site = ro.site
        require_role(actor, site, Role.TECHNICIAN, Role.DISPATCHER, Role.PARTS_CLERK, Role.ADVISOR)
        request = (
            PartsRequest.objects.select_for_update()
            .filter(job=job, arrived_at__isnull=True)
            .first()
        )
        if request is None:
            return job  # nothing is waiting: a repeated request
        request.arrived_at = now
        request.save(update_fields=["arrived_at"])
        back_to = W.IN_PROGRESS if job.actual_hours > 0 else W.PENDING
        _move_job(job, to=back_to, site=site, actor=actor, action="job_parts_arrived")
        if ro.status == ROStatus.WAITING_PARTS:
            ro_services.ro_resume(repair_order_id=ro.pk, actor=actor)
    return job


# --- findings, sign-off ----------------------------------------------------------------------
def job_report_finding(
    *,
    job_id: int,
    actor,
    description: str,
    standard_hours: Decimal,
    photos: Iterable = (),
    parts: Iterable = (),
) -> JobLine:
    """A technician's finding becomes a proposed job line for the advisor and the customer. It
    never changes authorized work: the repair-order service adds the proposed line."""
    job = JobLine.objects.select_related("repair_order__site").filter(pk=job_id).first()
    if job is None or not has_role(actor, job.repair_order.site):
        raise NotFoundError(_("There is no such job."))
    require_role(actor, job.repair_order.site, Role.TECHNICIAN)
    description = (description or "").strip()
    errors: dict[str, list[str]] = {}
    if not description:
        errors["description"] = [_("Describe what you found.")]
    try:
        hours = Decimal(str(standard_hours))
        if hours < 0 or hours > 99:
            raise ValueError
    except (ValueError, ArithmeticError):
        errors["standard_hours"] = [_("Give the standard hours (0–99).")]
    if errors:
        raise ApplicationError(next(iter(errors.values()))[0], fields=errors)
    return ro_services.job_propose_additional(
        repair_order_id=job.repair_order_id,
        actor=actor,
        description=description,
        standard_hours=hours,
        parts=tuple(parts),
        photos=tuple(photos),
    )


def job_sign_off(
    *,
    job_id: int,
    actor,
    self_check: Mapping[str, Any],
    report: str = "",
    confirm_short_time: bool = False,
    now: datetime | None = None,
) -> JobSignOff:
    """The technician self-checks and signs the finished job (seed 001). When every agreed job
    of the RO is signed, the work is complete (`ro_complete_work`). A clocked time implausibly
    short for the job's standard hours is recorded on the sign-off's audit entry, with whether
    the technician confirmed it (the tablet asks first); the dashboard lists such jobs."""
    now = now or timezone.now()
    missing = [key for key, _label in SELF_CHECK_ITEMS if not _truthy(self_check.get(key))]
    if missing:
        labels = dict(SELF_CHECK_ITEMS)
        raise ApplicationError(
            _("Complete the self-check before signing: %(items)s.")
            % {"items": "; ".join(str(labels[k]) for k in missing)},
            fields={k: [_("Confirm this item.")] for k in missing},
        )
    with transaction.atomic():
        ro, job = _locked_job(job_id, actor)
        site = ro.site
        _clocking_technician(actor, job, site)
        if job.work_status == W.DONE:
            last = job.sign_offs.first()
            if last is not None:
                return last  # already signed: a repeated request
        if job.work_status != W.IN_PROGRESS:
            raise ConflictError(_("Only a started job can be signed off."))
        reason = ro_refusal_for_sign_off(ro)
        if reason:
            raise ConflictError(reason)
        _close_open_clocks(job, now, actor, site)
        short = implausible_clock_time(
            standard_hours=job.standard_hours, actual_hours=job.actual_hours
        )
        sign_off = JobSignOff.objects.create(
            job=job,
            technician=job.technician,
            self_check={k: True for k, _label in SELF_CHECK_ITEMS},
            report=(report or "").strip(),
            signed_at=now,
        )
        _move_job(
            job, to=W.DONE, site=site, actor=actor, action="job_signed_off",
            note=sign_off.report, signed_off_at=now,
            data={"implausible_clock_time": True, "confirmed": confirm_short_time}
            if short
            else None,
        )  # fmt: skip
        still_open = (
            JobLine.objects.filter(repair_order=ro)
            .exclude(approval=JobLine.Approval.DECLINED)
            .exclude(work_status=W.DONE)
            .exists()
        )
        if not still_open and ro.status == ROStatus.IN_PROGRESS:
            ro_services.ro_complete_work(repair_order_id=ro.pk, actor=actor)
    return sign_off


def ro_refusal_for_sign_off(ro: RepairOrder) -> str | None:
    if ro.status in (ROStatus.IN_PROGRESS, ROStatus.WAITING_APPROVAL, ROStatus.WAITING_PARTS):
        return None
    return _("Jobs of a repair order in “%(status)s” cannot be signed off.") % {
        "status": ROStatus(ro.status).label
    }


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes", "y"}
    return bool(value)


# --- quality check ---------------------------------------------------------------------------
def qc_checklist_keys(ro: RepairOrder) -> list[str]:
    lines = [f"line_{pk}" for pk in _qc_line_ids(ro)]
    return lines + [key for key, _label in QC_ITEMS]


def _qc_line_ids(ro: RepairOrder) -> list[int]:
    return list(
        JobLine.objects.filter(repair_order=ro, approval__in=WORKABLE_APPROVALS)
        .order_by("position", "id")
        .values_list("pk", flat=True)
    )


def _ro_checklist(ro: RepairOrder, ticked: Mapping[str, bool]) -> dict[str, bool]:
    """The repair order's QC items: ours, plus "lines_checked" when every line is ticked."""
    lines = [f"line_{pk}" for pk in _qc_line_ids(ro)]
    out = {key: bool(ticked.get(key)) for key, _label in QC_ITEMS}
    out["lines_checked"] = all(ticked.get(k) for k in lines)
    return out


def _qc_ready(ro: RepairOrder) -> None:
    if ro.status not in (ROStatus.WORK_DONE, ROStatus.QC):
        raise ConflictError(
            _("Repair order %(number)s is not waiting for the quality check (it is “%(status)s”).")
            % {"number": ro.number, "status": ROStatus(ro.status).label}
        )


def qc_pass(
    *, repair_order_id: int, actor, checklist: Mapping[str, Any], now: datetime | None = None
) -> QCInspection:
    """Pass the road test and final inspection: every line verified and every safety item checked,
    or it does not pass. The RO goes on to washing (`ro_qc_pass`)."""
    now = now or timezone.now()
    with transaction.atomic():
        ro = _locked_ro(repair_order_id, actor)
        require_role(actor, ro.site, Role.QC_INSPECTOR)
        _qc_ready(ro)
        keys = qc_checklist_keys(ro)
        missing = [k for k in keys if not _truthy(checklist.get(k))]
        if missing:
            raise ApplicationError(
                _("Every line and every check item must be ticked to pass (%(count)s missing).")
                % {"count": len(missing)},
                fields={k: [_("Not checked.")] for k in missing},
            )
        clean = dict.fromkeys(keys, True)
        inspection = QCInspection.objects.create(
            repair_order=ro, inspector=actor, passed=True, checklist=clean, inspected_at=now
        )
        ro_services.ro_qc_pass(
            repair_order_id=ro.pk, actor=actor, checklist=_ro_checklist(ro, clean)
        )
    return inspection


def qc_fail(
    *,
    repair_order_id: int,
    actor,
    reason: str,
    checklist: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> QCInspection:
    """Fail the inspection with a reason: the RO goes back to the workshop as rework."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        msg = _("Say why the car fails the quality check.")
        raise ApplicationError(msg, fields={"reason": [msg]})
    with transaction.atomic():
        ro = _locked_ro(repair_order_id, actor)
        require_role(actor, ro.site, Role.QC_INSPECTOR)
        _qc_ready(ro)
        ticked = {k: _truthy(v) for k, v in (checklist or {}).items() if k in qc_checklist_keys(ro)}
        inspection = QCInspection.objects.create(
            repair_order=ro,
            inspector=actor,
            passed=False,
            checklist=ticked,
            reason=reason,
            inspected_at=now,
        )
        ro_services.ro_qc_fail(
            repair_order_id=ro.pk, actor=actor, reason=reason, checklist=_ro_checklist(ro, ticked)
        )
    return inspection


def technicians_of(site: Site):
    return (
        get_user_model()
        .objects.filter(staff_roles__site=site, staff_roles__role=Role.TECHNICIAN, is_active=True)
        .distinct()
    )
