"""Writes of the outreach engine. Every call or message the system schedules goes through here.

Other apps call `task_schedule()` inside the transaction of the event that causes the task, and
`tasks_cancel()` when that event is undone or moved. Delivery of a repair order calls
`followup_schedule_for_delivery()`. The minute sweeper (`outreach_sweep`) claims due rows with
`SELECT … FOR UPDATE SKIP LOCKED` and hands their ids to workers (`task_dispatch`), which are
idempotent: they act only on a row still in `queued`.
"""

import logging
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from customers.models import Channel
from dms import audit
from dms.models import ClosedDate, Role
from dms.statemachine import lock, move

from .models import CallTask, TaskKind, TaskStatus
from .transitions import TASK_TRANSITIONS

log = logging.getLogger(__name__)

PENDING = (TaskStatus.SCHEDULED, TaskStatus.QUEUED, TaskStatus.OPEN)
MARKETING_KINDS = (TaskKind.WINBACK_AT_RISK, TaskKind.WINBACK_NEARLY_LOST)
# A claimed row whose worker message was lost (worker killed, broker down) is handed out again
# after this long; the worker's status guard makes the second hand-out harmless.
REQUEUE_AFTER = timedelta(minutes=10)


def task_schedule(
    *,
    site,
    kind: str,
    source_key: str,
    customer,
    due_at: datetime,
    due_until: datetime,
    vehicle=None,
    appointment=None,
    repair_order=None,
    channel: str = Channel.CALL,
    assignee=None,
    message: str = "",
    data: dict | None = None,
) -> tuple[CallTask, bool]:
    """Create the task for (kind, source_key) once; a second call returns the existing row."""
    task, created = CallTask.objects.get_or_create(
        kind=kind,
        source_key=source_key,
        defaults={
            "site": site,
            "customer": customer,
            "vehicle": vehicle,
            "appointment": appointment,
            "repair_order": repair_order,
            "due_at": due_at,
            "due_until": max(due_until, due_at),
            "channel": channel,
            "assignee": assignee,
            "message": message,
            "data": data or {},
        },
    )
    if created:
        audit.record(subject=task, action="scheduled", to_state=task.status, site=site)
    return task, created


@transaction.atomic
def tasks_cancel(*, actor=None, note: str = "", **filters) -> int:
    """Cancel the pending tasks matching `filters` (e.g. appointment=…, kind__in=[…])."""
    count = 0
    for task in CallTask.objects.select_for_update().filter(status__in=PENDING, **filters):
        old = task.status
        task.status = TaskStatus.CANCELLED
        task.save(update_fields=["status", "updated_at"])
        audit.record(
            subject=task,
            action="cancelled",
            actor=actor,
            from_state=old,
            to_state=task.status,
            note=note,
        )
        count += 1
    return count


# --- calendar: calling hours, closed days, quiet hours ------------------------------------------
def _open_days(site, first: date, last: date) -> list[date]:
    """Days in [first, last] the site is open: it has opening hours that weekday and no closure."""
    weekdays = {oh.weekday for oh in site.opening_hours.all()}
    closed = set(
        ClosedDate.objects.filter(site=site, date__range=(first, last)).values_list(
            "date", flat=True
        )
    )
    days = []
    day = first
    while day <= last:
        if day.weekday() in weekdays and day not in closed:
            days.append(day)
        day += timedelta(days=1)
    return days


def _at(site, day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=site.tzinfo)


def followup_window(*, site, delivered_at: datetime) -> tuple[datetime, datetime]:
    """(earliest, latest) for the follow-up call: the open days from delivery + min days to
    delivery + max days, calling hours on each. If every day of the window is closed, the call
    goes to the next open day, so it is never silently dropped."""
    delivered_day = timezone.localtime(delivered_at, site.tzinfo).date()
    first = delivered_day + timedelta(days=site.followup_min_days)
    last = delivered_day + timedelta(days=site.followup_max_days)
    days = _open_days(site, first, last + timedelta(days=31))
    inside = [d for d in days if d <= last] or days[:1] or [first]
    return (
        _at(site, inside[0], site.calling_hours_start),
        _at(site, inside[-1], site.calling_hours_end),
    )


def _consent(customer, channel: str, kind: str) -> bool:
    allowed = {
        Channel.CALL: customer.consent_call,
        Channel.SMS: customer.consent_sms and bool(customer.phone),
        Channel.EMAIL: customer.consent_email and bool(customer.email),
    }.get(channel, False)
    if kind in MARKETING_KINDS:
        allowed = allowed and customer.consent_marketing
    return allowed


def _in_quiet(customer, clock: time) -> bool:
    start, end = customer.quiet_hours_start, customer.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # wraps past midnight, e.g. 21:00–08:00


def next_contact_time(*, task: CallTask, at: datetime) -> datetime | None:
    """The first moment at or after `at` when this task may reach its customer: inside the
    site's calling hours (calls also only on open days) and outside the customer's quiet hours.
    None when the customer opted out of the task's channel (never use it)."""
    customer, site = task.customer, task.site
    if not _consent(customer, task.channel, task.kind):
        return None
    tz = site.tzinfo
    moment = timezone.localtime(at, tz)
    horizon = moment.date() + timedelta(days=60)
    open_days = (
        set(_open_days(site, moment.date(), horizon)) if task.channel == Channel.CALL else None
    )
    start, end = site.calling_hours_start, site.calling_hours_end
    while moment.date() <= horizon:
        day, clock = moment.date(), moment.time()
        next_day = _at(site, day + timedelta(days=1), start)
        if open_days is not None and day not in open_days:
            moment = next_day
        elif clock < start:
            moment = _at(site, day, start)
        elif clock >= end:
            moment = next_day
        elif _in_quiet(customer, clock):
            quiet_end = customer.quiet_hours_end
            moment = (
                _at(site, day, quiet_end)
                if clock < quiet_end
                else _at(site, day + timedelta(days=1), quiet_end)
            )
        else:
            return moment
    return None


# --- assignment ------------------------------------------------------------------------------
def agents_on_duty(*, site):
    User = get_user_model()
    return User.objects.filter(
        is_active=True,
        id__in=site.staff_roles.filter(role=Role.FOLLOWUP_AGENT, on_duty=True).values("user_id"),
    )


def _pick_agent(*, site, exclude_ids=()):
    """Round robin among the agents on duty: fewest open tasks first, then the one who was
    given a task longest ago. Never one of `exclude_ids` (the RO's advisor)."""
    return (
        agents_on_duty(site=site)
        .exclude(id__in=[i for i in exclude_ids if i])
        .annotate(
            pending=Count(
                "call_tasks", filter=Q(call_tasks__status__in=PENDING, call_tasks__site=site)
            ),
            last_given=Max("call_tasks__created_at", filter=Q(call_tasks__site=site)),
        )
        .order_by("pending", "last_given", "id")
        .first()
    )


def _advisor_id(task: CallTask) -> int | None:
    if task.repair_order_id:
        return task.repair_order.advisor_id
    return task.data.get("advisor_id")


# --- follow-up after delivery ----------------------------------------------------------------
@transaction.atomic
def followup_schedule_for_delivery(*, repair_order) -> CallTask:
    """The one follow-up call of a delivered RO, due delivery + min..max days (site window) in
    calling hours on open days, assigned to an agent who is not the RO's advisor. Idempotent:
    redelivering returns the existing task. Every delivery is followed up (warranty-period
    vehicles always are; the flag is kept for reports). A customer who opted out of calls gets
    the follow-up by SMS or e-mail; one who opted out of everything gets a cancelled task."""
    ro = repair_order
    key = f"ro:{ro.pk}"
    existing = CallTask.objects.filter(kind=TaskKind.FOLLOWUP, source_key=key).first()
    if existing is not None:
        return existing
    site, customer = ro.site, ro.customer
    delivered_at = ro.delivered_at or timezone.now()
    due_at, due_until = followup_window(site=site, delivered_at=delivered_at)
    warranty_end = ro.vehicle.warranty_end
    in_warranty = bool(
        warranty_end and warranty_end >= timezone.localtime(delivered_at, site.tzinfo).date()
    )
    channel = next(
        (c for c in (Channel.CALL, Channel.SMS, Channel.EMAIL) if _consent(customer, c, "")),
        None,
    )
    assignee = (
        _pick_agent(site=site, exclude_ids=[ro.advisor_id]) if channel == Channel.CALL else None
    )
    message = ""
    if channel in (Channel.SMS, Channel.EMAIL):
        with translation.override(settings.LANGUAGE_CODE):
            message = _(
                "%(site)s: thank you for your visit on %(day)s. How has your car been since? "
                "Reply or call us on %(phone)s."
            ) % {
                "site": site.name,
                "day": timezone.localtime(delivered_at, site.tzinfo).date().isoformat(),
                "phone": site.phone or "",
            }
    task, created = task_schedule(
        site=site,
        kind=TaskKind.FOLLOWUP,
        source_key=key,
        customer=customer,
        vehicle=ro.vehicle,
        repair_order=ro,
        due_at=due_at,
        due_until=due_until,
        channel=channel or Channel.CALL,
        assignee=assignee,
        message=message,
        data={"warranty": in_warranty, "advisor_id": ro.advisor_id, "ro_number": ro.number},
    )
    if created and channel is None:
        task = lock(CallTask, task.pk)
        move(
            task,
            to=TaskStatus.CANCELLED,
            table=TASK_TRANSITIONS,
            action="cancelled",
            note=_("The customer opted out of calls, SMS and e-mail."),
        )
    return task


# --- the sweeper and the workers -------------------------------------------------------------
def _enqueue(task_ids: list[int]) -> None:
    """Hand claimed ids to workers. Runs after commit; if the broker is down the rows stay
    `queued` and the sweeper hands them out again after REQUEUE_AFTER."""
    from .tasks import dispatch_task

    try:
        for task_id in task_ids:
            dispatch_task.delay(task_id)
    except Exception:  # any broker failure: the database still has the rows
        log.warning("Broker unavailable; %d claimed task(s) wait for the next sweep", len(task_ids))


def outreach_sweep(*, now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Expire tasks whose window closed, then claim due rows batch by batch and enqueue them."""
    now = now or timezone.now()
    expired = tasks_expire(now=now)
    claimed = 0
    while True:
        with transaction.atomic():
            ids = list(
                CallTask.objects.select_for_update(skip_locked=True)
                .filter(
                    Q(status=TaskStatus.SCHEDULED, due_at__lte=now)
                    | Q(status=TaskStatus.QUEUED, claimed_at__lt=now - REQUEUE_AFTER)
                )
                .order_by("due_at", "id")
                .values_list("id", flat=True)[:batch_size]
            )
            if ids:
                CallTask.objects.filter(id__in=ids).update(
                    status=TaskStatus.QUEUED, claimed_at=now, updated_at=now
                )
                transaction.on_commit(lambda ids=ids: _enqueue(ids))
        claimed += len(ids)
        if len(ids) < batch_size:
            break
    return {"claimed": claimed, "expired": expired}


def tasks_expire(*, now: datetime | None = None) -> int:
    """Tasks still waiting when their window closed become `unreachable` (counted, not dropped)."""
    now = now or timezone.now()
    ids = list(
        CallTask.objects.filter(
            status__in=(TaskStatus.SCHEDULED, TaskStatus.OPEN), due_until__lt=now
        ).values_list("id", flat=True)
    )
    count = 0
    for task_id in ids:
        with transaction.atomic():
            task = CallTask.objects.select_for_update(skip_locked=True).filter(pk=task_id).first()
            if task is None or task.status not in (TaskStatus.SCHEDULED, TaskStatus.OPEN):
                continue
            if task.due_until >= now:
                continue
            move(
                task,
                to=TaskStatus.UNREACHABLE,
                table=TASK_TRANSITIONS,
                note=_("The window closed before the customer was reached."),
                extra_fields={"completed_at": now, "updated_at": now},
            )
            count += 1
    return count


def channel_backend(channel: str):
    path = settings.DMS_SMS_BACKEND if channel == Channel.SMS else settings.DMS_EMAIL_BACKEND
    return import_string(path)()


def _address(task: CallTask) -> str:
    return task.customer.email if task.channel == Channel.EMAIL else task.customer.phone


def task_dispatch(*, task_id: int, now: datetime | None = None) -> str:
    """Act on one claimed task, once: a call opens on the desk, a message goes to its backend,
    a task outside the allowed hours goes back to wait for them. Returns what happened."""
    now = now or timezone.now()
    with transaction.atomic():
        task = (
            CallTask.objects.select_for_update(of=("self",))
            .select_related("site", "customer", "repair_order")
            .filter(pk=task_id)
            .first()
        )
        if task is None or task.status != TaskStatus.QUEUED:
            return "skipped"
        if task.due_until < now:
            move(
                task,
                to=TaskStatus.UNREACHABLE,
                table=TASK_TRANSITIONS,
                note=_("The window closed before the customer was reached."),
                extra_fields={"completed_at": now},
            )
            return "expired"
        allowed_at = next_contact_time(task=task, at=now)
        if allowed_at is None:
            move(
                task,
                to=TaskStatus.FAILED,
                table=TASK_TRANSITIONS,
                note=_("The customer does not accept this channel."),
                extra_fields={"completed_at": now},
            )
            return "opted_out"
        if allowed_at > now + timedelta(minutes=1):
            if allowed_at > task.due_until:
                move(
                    task,
                    to=TaskStatus.UNREACHABLE,
                    table=TASK_TRANSITIONS,
                    note=_("No allowed contact time is left in the window."),
                    extra_fields={"completed_at": now},
                )
                return "expired"
            move(
                task,
                to=TaskStatus.SCHEDULED,
                table=TASK_TRANSITIONS,
                action="wait",
                note=_("Waits for the customer's allowed contact hours."),
                extra_fields={"due_at": allowed_at},
            )
            return "waiting"
        if task.channel == Channel.CALL:
            extra = {}
            if task.assignee_id is None or task.assignee_id == _advisor_id(task):
                agent = _pick_agent(site=task.site, exclude_ids=[_advisor_id(task)])
                extra["assignee"] = agent
            move(task, to=TaskStatus.OPEN, table=TASK_TRANSITIONS, extra_fields=extra)
            return "opened"
        channel_backend(task.channel).send(task=task, to=_address(task), body=task.message)
        move(task, to=TaskStatus.SENT, table=TASK_TRANSITIONS, extra_fields={"completed_at": now})
        return "sent"
