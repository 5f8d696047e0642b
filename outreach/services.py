"""Writes of the outreach engine. Every call or message the system schedules goes through here.

Other apps call `task_schedule()` inside the transaction of the event that causes the task, and
`tasks_cancel()` when that event is undone or moved. Delivery of a repair order calls
`followup_schedule_for_delivery()`. The minute sweeper (`outreach_sweep`) claims due rows with
`SELECT … FOR UPDATE SKIP LOCKED` and hands their ids to workers (`task_dispatch`), which are
idempotent: they act only on a row still in `queued`.
"""

import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from customers.models import Channel
from dms import audit
from dms.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from dms.models import ClosedDate, Role
from dms.permissions import has_role, require_role
from dms.statemachine import check_move, lock, move, move_many

from .backends import Outgoing, TransientSendError
from .models import (
    CallOutcome,
    CallTask,
    Complaint,
    ComplaintCause,
    ComplaintChannel,
    ComplaintDecision,
    ComplaintStatus,
    TaskKind,
    TaskStatus,
)
from .transitions import COMPLAINT_TRANSITIONS, TASK_TRANSITIONS

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
    """Cancel the pending tasks matching `filters` (e.g. appointment=…, kind__in=[…]) that the
    transition table lets go to `cancelled`; each move locked and audited (`move()`)."""
    cancellable = [s for s in PENDING if TaskStatus.CANCELLED in TASK_TRANSITIONS.get(s, ())]
    count = 0
    for task in (
        CallTask.objects.select_for_update()
        .filter(status__in=cancellable, **filters)
        .order_by("id")
    ):
        move(
            task,
            to=TaskStatus.CANCELLED,
            table=TASK_TRANSITIONS,
            action="cancelled",
            actor=actor,
            note=note,
            extra_fields={"updated_at": timezone.now()},
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


def message_contact_time(*, site, customer, channel: str, kind: str, at: datetime):
    """`next_contact_time()` for a message the messaging layer is about to send: the site's
    calling hours and the customer's quiet hours (the channel's consent is checked by
    messaging itself, which also knows WeChat)."""
    contact = SimpleNamespace(
        consent_call=True,
        consent_sms=True,
        consent_email=True,
        consent_marketing=customer.consent_marketing,
        phone="-",
        email="-",
        quiet_hours_start=customer.quiet_hours_start,
        quiet_hours_end=customer.quiet_hours_end,
    )
    task = SimpleNamespace(
        site=site,
        customer=contact,
        channel=Channel.EMAIL if channel == Channel.EMAIL else Channel.SMS,
        kind=kind,
    )
    return next_contact_time(task=task, at=at)


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
    """Hand one claimed batch of ids to a worker, as one message. Runs after commit; if the broker is down the rows stay
    `queued` and the sweeper hands them out again after REQUEUE_AFTER."""
    from .tasks import dispatch_batch

    try:
        dispatch_batch.delay(list(task_ids))
    except Exception:  # any broker failure: the database still has the rows
        log.warning("Broker unavailable; %d claimed task(s) wait for the next sweep", len(task_ids))


def outreach_sweep(*, now: datetime | None = None, batch_size: int = 1000) -> dict[str, int]:
    """Expire tasks whose window closed, then claim due rows batch by batch and enqueue them."""
    now = now or timezone.now()
    expired = tasks_expire(now=now)
    # Two claims, each riding the (status, due_at) index with its LIMIT: due rows oldest first
    # (no tie-break on id, which would sort every due row for each batch), then rows stuck in
    # `queued` whose worker message was lost.
    due = CallTask.objects.filter(status=TaskStatus.SCHEDULED, due_at__lte=now).order_by("due_at")
    stuck = CallTask.objects.filter(
        status=TaskStatus.QUEUED, claimed_at__lt=now - REQUEUE_AFTER
    ).order_by("due_at")
    claimed = 0
    for rows, from_state in ((due, TaskStatus.SCHEDULED), (stuck, TaskStatus.QUEUED)):
        while True:
            with transaction.atomic():
                ids = _claim(rows, from_state=from_state, now=now, limit=batch_size)
                if ids:
                    transaction.on_commit(lambda ids=ids: _enqueue(ids))
            claimed += len(ids)
            if len(ids) < batch_size:
                break
    return {"claimed": claimed, "expired": expired}


def _claim(rows, *, from_state: str, now: datetime, limit: int) -> list[int]:
    """Move up to `limit` rows of `rows` (all in `from_state`, not locked by another sweeper) to
    `queued` in one statement — `UPDATE … WHERE id IN (SELECT … LIMIT … FOR UPDATE SKIP LOCKED)
    RETURNING id` — and return their ids. A move from `scheduled` is checked against the table
    once and audited per row in one INSERT (`audit.record_many`); handing out again a row
    already `queued` changes no status and writes no entry."""
    moves = from_state != TaskStatus.QUEUED
    if moves:
        check_move(TASK_TRANSITIONS, from_state, TaskStatus.QUEUED)
    chosen = rows.select_for_update(skip_locked=True).values("id")[:limit]
    chosen_sql, chosen_params = chosen.query.sql_with_params()
    quote = connection.ops.quote_name
    # only names and the ORM-compiled subquery are formatted in; values are parameters
    sql = (
        f"UPDATE {quote(CallTask._meta.db_table)} "  # noqa: S608
        f"SET {quote('status')} = %s, {quote('claimed_at')} = %s, {quote('updated_at')} = %s "
        f"WHERE {quote('id')} IN ({chosen_sql}) RETURNING {quote('id')}, {quote('site_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [TaskStatus.QUEUED.value, now, now, *chosen_params])
        claimed = [(pk, site_id) for pk, site_id in cursor.fetchall()]
    if moves and claimed:
        audit.record_many(
            model=CallTask,
            subjects=claimed,
            action=TaskStatus.QUEUED,
            from_state=from_state,
            to_state=TaskStatus.QUEUED,
        )
    return [pk for pk, _site_id in claimed]


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
        return _dispatch_locked(task, now=now)


def _finish(task: CallTask, to: str, note: str, now: datetime) -> None:
    """End a locked, queued task without contact (expired, opted out, refused)."""
    move(task, to=to, table=TASK_TRANSITIONS, note=note, extra_fields={"completed_at": now})


def _dispatch_locked(task: CallTask, *, now: datetime) -> str:
    """The body of `task_dispatch` for a row already locked and still `queued`."""
    if task.due_until < now:
        _finish(
            task,
            TaskStatus.UNREACHABLE,
            _("The window closed before the customer was reached."),
            now,
        )
        return "expired"
    allowed_at = next_contact_time(task=task, at=now)
    if allowed_at is None:
        _finish(task, TaskStatus.FAILED, _("The customer does not accept this channel."), now)
        return "opted_out"
    if allowed_at > now + timedelta(minutes=1):
        if allowed_at > task.due_until:
            _finish(
                task,
                TaskStatus.UNREACHABLE,
                _("No allowed contact time is left in the window."),
                now,
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
    try:
        with transaction.atomic():
            channel_backend(task.channel).send(task=task, to=_address(task), body=task.message)
    except TransientSendError:
        raise  # the worker retries with backoff; the row stays queued
    except Exception as exc:  # a permanent refusal: never retried, recorded
        log.exception("Channel backend refused task %s", task.pk)
        _finish(
            task,
            TaskStatus.FAILED,
            _("The gateway refused the message: %(error)s") % {"error": str(exc)[:200]},
            now,
        )
        # never silently dropped: an agent calls instead
        _call_instead(
            task,
            failed={"channel": task.get_channel_display(), "error": str(exc)[:200]},
            now=now,
        )
        return "failed"
    move(task, to=TaskStatus.SENT, table=TASK_TRANSITIONS, extra_fields={"completed_at": now})
    return "sent"


# Rows per worker transaction: one commit (fsync) and a handful of set-based statements per
# chunk. A killed worker loses at most one open chunk (still `queued`, handed out again).
DISPATCH_CHUNK = 500

# What the batch worker reads of each task: the task, its customer's contact fields and the
# site's calling hours (no model instances in the common case).
_CHUNK_FIELDS = {
    "phone": F("customer__phone"),
    "email": F("customer__email"),
    "consent_call": F("customer__consent_call"),
    "consent_sms": F("customer__consent_sms"),
    "consent_email": F("customer__consent_email"),
    "consent_marketing": F("customer__consent_marketing"),
    "quiet_hours_start": F("customer__quiet_hours_start"),
    "quiet_hours_end": F("customer__quiet_hours_end"),
    "time_zone": F("site__time_zone"),
    "calling_hours_start": F("site__calling_hours_start"),
    "calling_hours_end": F("site__calling_hours_end"),
}


def _ready_now(row: dict, clock: time) -> bool:
    """A message task (read as values) that goes to its backend right now: exactly the tasks
    for which `next_contact_time()` answers "now" — consent to the channel, inside the site's
    calling hours, outside the customer's quiet hours (`clock`: the site's local time). Every
    other task takes the one-task path, which decides the rest (waits, opt-outs, expiries)."""
    contact = SimpleNamespace(**row)  # has the customer fields `_consent` / `_in_quiet` read
    return (
        _consent(contact, row["channel"], row["kind"])
        and row["calling_hours_start"] <= clock < row["calling_hours_end"]
        and not _in_quiet(contact, clock)
    )


def tasks_dispatch(*, task_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Act on a claimed batch, each task once, in transactions of DISPATCH_CHUNK rows.

    Rows are locked and only those still `queued` are acted on (a second run of the same batch
    changes nothing). The common case — an SMS or e-mail that may go out now — is done per
    chunk as sets: the rows read as values, the messages handed to their backend in bulk
    (`send_many`: one INSERT into the outbox, unique per task), one UPDATE to `sent` and one
    INSERT of the per-task "sent" audit entries (`statemachine.move_many`). Everything else —
    calls, waits for allowed hours, expiries, opt-outs, refusals — goes through the one-task
    path inside a savepoint. A transient gateway error leaves the task `queued` and hands it to
    `dispatch_task`, which retries with backoff. Returns counts per outcome."""
    now = now or timezone.now()
    result: dict[str, int] = {}
    ids = sorted(set(task_ids))
    for start in range(0, len(ids), DISPATCH_CHUNK):
        for outcome, n in _dispatch_chunk(ids[start : start + DISPATCH_CHUNK], now).items():
            result[outcome] = result.get(outcome, 0) + n
    return result


def _dispatch_chunk(ids: list[int], now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    retry: list[int] = []
    with transaction.atomic():
        rows = list(
            CallTask.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, status=TaskStatus.QUEUED)
            .order_by("id")
            .values("id", "site_id", "kind", "channel", "due_until", "message", **_CHUNK_FIELDS)
        )
        counts["skipped"] = len(ids) - len(rows)
        clocks: dict[str, time] = {}  # the local time now, per time zone of the chunk
        by_channel: dict[str, list[Outgoing]] = {}
        one_by_one: list[int] = []
        for row in rows:
            tz = row["time_zone"]
            if tz not in clocks:
                clocks[tz] = timezone.localtime(now, ZoneInfo(tz)).time()
            if (
                row["channel"] != Channel.CALL
                and row["due_until"] >= now
                and _ready_now(row, clocks[tz])
            ):
                to = row["email"] if row["channel"] == Channel.EMAIL else row["phone"]
                by_channel.setdefault(row["channel"], []).append(
                    Outgoing(row["id"], row["site_id"], row["channel"], to, row["message"])
                )
            else:
                one_by_one.append(row["id"])
        sent: list[tuple[int, int]] = []
        for channel, group in by_channel.items():
            try:
                with transaction.atomic():
                    channel_backend(channel).send_many(group)
            except Exception:  # any refusal of the group: each task on its own below
                log.warning("Bulk send failed; sending %d task(s) one by one", len(group))
                one_by_one.extend(m.task_id for m in group)
                continue
            sent.extend((m.task_id, m.site_id) for m in group)
        if sent:
            move_many(
                CallTask,
                rows=sent,
                from_state=TaskStatus.QUEUED,
                to=TaskStatus.SENT,
                table=TASK_TRANSITIONS,
                extra_fields={"completed_at": now, "updated_at": now},
            )
            counts["sent"] = len(sent)
        tasks = (
            CallTask.objects.select_related("site", "customer", "repair_order")
            .filter(pk__in=one_by_one)  # locked above, still queued
            .order_by("id")
            if one_by_one
            else ()
        )
        for task in tasks:
            try:
                with transaction.atomic():
                    outcome = _dispatch_locked(task, now=now)
            except TransientSendError:
                retry.append(task.pk)
                outcome = "retry"
            counts[outcome] = counts.get(outcome, 0) + 1
        if retry:
            transaction.on_commit(lambda: _retry_one_by_one(retry))
    return {k: v for k, v in counts.items() if v}


def _retry_one_by_one(task_ids: list[int]) -> None:
    from .tasks import dispatch_task

    try:
        for task_id in task_ids:
            dispatch_task.delay(task_id)
    except Exception:  # broker down: the rows stay queued; the sweeper hands them out again
        log.warning("Broker unavailable; %d task(s) wait for the next sweep", len(task_ids))


# --- the desk: assignment and outcomes -------------------------------------------------------
REMINDER_KINDS = (TaskKind.REMINDER_DAY_BEFORE, TaskKind.REMINDER_SOON)
REMINDER_OUTCOMES = (CallOutcome.CONFIRMED, CallOutcome.CANCEL, CallOutcome.RESCHEDULE)
# Who may make each kind of call (a manager may make every call).
CALLER_ROLES = {
    TaskKind.FOLLOWUP: (Role.FOLLOWUP_AGENT,),
    TaskKind.COMPLAINT_CONFIRM: (Role.FOLLOWUP_AGENT,),
    TaskKind.TECH_CALLBACK: (Role.TECHNICIAN, Role.DISPATCHER),
}
DEFAULT_CALLER_ROLES = (Role.FOLLOWUP_AGENT, Role.ADVISOR)
RETRY_AFTER = timedelta(hours=2)


def caller_roles(kind: str) -> tuple[str, ...]:
    return CALLER_ROLES.get(kind, DEFAULT_CALLER_ROLES)


def _refuse_the_advisor(task: CallTask, user) -> None:
    """Seed 000: customers do not tell their own advisor the truth."""
    independent = task.kind in (TaskKind.FOLLOWUP, TaskKind.COMPLAINT_CONFIRM)
    if independent and user is not None and user.pk == _advisor_id(task):
        raise PermissionDeniedError(
            _(
                "%(name)s was the service advisor on this visit. The follow-up must be made "
                "by someone else: customers rarely tell their own advisor what went wrong."
            )
            % {"name": user.get_full_name() or user.get_username()}
        )


def _get_task(task_id, *, actor) -> CallTask:
    task = (
        CallTask.objects.select_for_update(of=("self",))
        .select_related("site", "repair_order", "customer")
        .filter(pk=task_id)
        .first()
    )
    if task is None or not has_role(actor, task.site):
        from dms.exceptions import NotFoundError

        raise NotFoundError(_("No such call task."))
    return task


@transaction.atomic
def call_task_assign(*, task_id: int, actor, assignee) -> CallTask:
    """An agent picks a task for themselves; a manager gives it to anyone who may make it.
    Never to the RO's advisor."""
    task = _get_task(task_id, actor=actor)
    if task.status not in PENDING:
        raise ConflictError(
            _("This call is already finished (%(status)s).") % {"status": task.get_status_display()}
        )
    if assignee is None:
        raise ApplicationError(_("Choose who makes the call."), fields={"assignee": _("Required.")})
    _refuse_the_advisor(task, assignee)
    if assignee.pk != actor.pk or task.assignee_id not in (None, actor.pk):
        require_role(actor, task.site, Role.MANAGER)
    if not has_role(assignee, task.site, *caller_roles(task.kind)):
        raise ApplicationError(
            _("%(name)s may not make this kind of call.") % {"name": assignee.get_username()},
            fields={"assignee": _("Not allowed for this call.")},
        )
    old = task.assignee
    task.assignee = assignee
    task.save(update_fields=["assignee", "updated_at"])
    audit.record(
        subject=task,
        action="assigned",
        actor=actor,
        from_state=task.status,
        to_state=task.status,
        data={"from": old.get_username() if old else None, "to": assignee.get_username()},
    )
    return task


def _satisfaction(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        score = int(value)
    except (TypeError, ValueError):
        score = 0
    if not 1 <= score <= 5:
        raise ApplicationError(
            _("Satisfaction is a score from 1 to 5."),
            fields={"satisfaction": _("Enter a whole number from 1 to 5.")},
        )
    return score


def _callback_target(task: CallTask):
    """A technician on the RO, else the workshop lead (dispatcher), else a manager."""
    from dms.permissions import users_with_role

    if task.repair_order_id:
        line = (
            task.repair_order.lines.filter(technician__isnull=False)
            .select_related("technician")
            .order_by("position", "id")
            .first()
        )
        if line is not None:
            return line.technician
    for role in (Role.DISPATCHER, Role.MANAGER):
        user = users_with_role(task.site, role).order_by("id").first()
        if user is not None:
            return user
    return None


def _schedule_tech_callback(task: CallTask, *, note: str, now: datetime) -> CallTask:
    callback, _created = task_schedule(
        site=task.site,
        kind=TaskKind.TECH_CALLBACK,
        source_key=f"calltask:{task.pk}",
        customer=task.customer,
        vehicle=task.vehicle,
        repair_order=task.repair_order,
        due_at=now,
        due_until=now + timedelta(days=2),
        assignee=_callback_target(task),
        message=note,
        data={"from_task": task.pk},
    )
    return callback


@transaction.atomic
def call_task_record_outcome(
    *,
    task_id: int,
    actor,
    outcome: str,
    satisfaction=None,
    comments: str = "",
    technical_problem: bool = False,
    technical_note: str = "",
    dissatisfied: bool = False,
    new_start: datetime | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> CallTask:
    """Record what happened on a call. Reached → done (a low score or "not satisfied" opens a
    complaint; a technical problem routes a call-back to the workshop); no answer → another
    attempt later in the window, up to the site's attempts, else unreachable; wrong number →
    unreachable. On appointment reminders: confirmed / cancel / reschedule act on the appointment."""
    now = now or timezone.now()
    task = _get_task(task_id, actor=actor)
    require_role(actor, task.site, *caller_roles(task.kind))
    _refuse_the_advisor(task, actor)
    if task.status != TaskStatus.OPEN:
        raise ConflictError(
            _("This call is not open (it is “%(status)s”); no outcome can be recorded.")
            % {"status": task.get_status_display()},
            extra={"state": task.status},
        )
    if task.assignee_id not in (None, actor.pk) and not has_role(actor, task.site, Role.MANAGER):
        raise PermissionDeniedError(
            _("This call is on %(name)s's desk.") % {"name": task.assignee.get_username()}
        )
    if outcome not in CallOutcome.values:
        raise ApplicationError(
            _("Unknown outcome."), fields={"outcome": _("Choose one of the listed outcomes.")}
        )
    if outcome in REMINDER_OUTCOMES and task.kind not in REMINDER_KINDS:
        raise ApplicationError(
            _("That outcome is only for appointment reminders."),
            fields={"outcome": _("Not for this call.")},
        )
    score = _satisfaction(satisfaction)
    if outcome == CallOutcome.RESCHEDULE and new_start is None:
        raise ApplicationError(
            _("Give the new appointment time."), fields={"new_start": _("Required.")}
        )
    confirming = task.kind == TaskKind.COMPLAINT_CONFIRM and outcome == CallOutcome.REACHED
    if confirming and score is None and not dissatisfied:
        raise ApplicationError(
            _("Record whether the customer is satisfied with how the complaint was handled."),
            fields={"satisfaction": _("Required for a confirming call.")},
        )
    if technical_problem and not (technical_note or comments).strip():
        raise ApplicationError(
            _("Describe the technical problem in the customer's words."),
            fields={"technical_note": _("Required when a technical problem is reported.")},
        )

    attempts = task.attempts + 1
    fields = {
        "attempts": attempts,
        "outcome": outcome,
        "comments": comments.strip(),
        "updated_at": now,
        "assignee": task.assignee or actor,
    }
    data = {"attempt": attempts, "outcome": outcome}
    if outcome == CallOutcome.NO_ANSWER:
        next_at = next_contact_time(task=task, at=now + RETRY_AFTER)
        if (
            attempts >= task.site.followup_max_attempts
            or next_at is None
            or next_at > task.due_until
        ):
            move(
                task,
                to=TaskStatus.UNREACHABLE,
                table=TASK_TRANSITIONS,
                actor=actor,
                note=_("No answer after %(n)d attempt(s).") % {"n": attempts},
                data=data,
                extra_fields={**fields, "completed_at": now},
            )
        else:
            move(
                task,
                to=TaskStatus.SCHEDULED,
                table=TASK_TRANSITIONS,
                actor=actor,
                action="retry",
                note=_("No answer; next attempt from %(at)s.")
                % {"at": timezone.localtime(next_at, task.site.tzinfo).strftime("%Y-%m-%d %H:%M")},
                data=data,
                extra_fields={**fields, "due_at": next_at},
            )
        return task
    if outcome == CallOutcome.WRONG_NUMBER:
        move(
            task,
            to=TaskStatus.UNREACHABLE,
            table=TASK_TRANSITIONS,
            actor=actor,
            action="wrong_number",
            note=_("Wrong number."),
            data=data,
            extra_fields={**fields, "completed_at": now},
        )
        return task

    fields.update({"satisfaction": score, "completed_at": now})
    unhappy = dissatisfied or (score is not None and score <= 2)
    fields["data"] = {**task.data, "technical_problem": technical_problem, "dissatisfied": unhappy}
    move(
        task,
        to=TaskStatus.DONE,
        table=TASK_TRANSITIONS,
        actor=actor,
        action=f"outcome_{outcome}",
        note=comments.strip(),
        data={**data, "satisfaction": score, "dissatisfied": unhappy},
        extra_fields=fields,
    )
    if technical_problem:
        _schedule_tech_callback(task, note=(technical_note or comments).strip(), now=now)
    if task.kind == TaskKind.COMPLAINT_CONFIRM:
        complaint_id = task.data.get("complaint_id")
        complaint_confirm(
            complaint_id=complaint_id, actor=actor, satisfied=not unhappy, comments=comments
        )
    elif unhappy and task.kind in (TaskKind.FOLLOWUP, TaskKind.TECH_CALLBACK):
        complaint_open(
            site=task.site,
            actor=actor,
            channel=ComplaintChannel.FOLLOWUP_CALL,
            customer=task.customer,
            repair_order=task.repair_order,
            vehicle=task.vehicle,
            call_task=task,
            description=comments.strip() or _("Not satisfied (score %(s)s).") % {"s": score},
        )
    if outcome in REMINDER_OUTCOMES:
        _act_on_appointment(task, actor=actor, outcome=outcome, new_start=new_start, reason=reason)
    return task


SURVEY_CHANNEL = "online"


@transaction.atomic
def followup_record_survey(
    *,
    task_id: int,
    answer: str,
    satisfaction,
    comments: str = "",
    via: str = "",
    now: datetime | None = None,
) -> CallTask:
    """The customer answers the follow-up survey online: recorded on the visit's follow-up as an
    agent's reached call is (satisfaction 1–5, comments; 1–2 opens a complaint), with the channel.
    A warranty-period customer still gets the call when the site requires it: the answer is kept
    on the task for the agent and the call stays due. A second answer is refused (409)."""
    now = now or timezone.now()
    task = (
        CallTask.objects.select_for_update(of=("self",))
        .select_related("site", "repair_order", "customer", "vehicle")
        .filter(pk=task_id, kind=TaskKind.FOLLOWUP)
        .first()
    )
    if task is None:
        from dms.exceptions import NotFoundError

        raise NotFoundError(_("No such follow-up."))
    score = _satisfaction(satisfaction)
    if score is None:
        raise ApplicationError(
            _("Choose how satisfied you are, from 1 to 5."),
            fields={"satisfaction": _("Choose from 1 to 5.")},
        )
    answer, comments = (answer or "").strip()[:2000], (comments or "").strip()[:2000]
    if task.data.get("survey"):
        raise ConflictError(_("This survey has already been answered. Thank you!"))
    unhappy = score <= 2
    survey = {
        "answer": answer,
        "satisfaction": score,
        "comments": comments,
        "channel": SURVEY_CHANNEL,
        "at": now.isoformat(),
    }
    text = "\n".join(t for t in (answer, comments) if t)
    data = {**task.data, "survey": survey, "dissatisfied": unhappy, "channel": SURVEY_CHANNEL}
    keep_call = (
        task.site.followup_call_for_warranty
        and task.data.get("warranty")
        and task.status in PENDING
    )
    if keep_call or task.status not in (*PENDING, TaskStatus.SENT):
        task.data = data
        task.save(update_fields=["data", "updated_at"])
        audit.record(
            subject=task,
            action="survey_answered",
            from_state=task.status,
            to_state=task.status,
            note=text,
            data={"satisfaction": score, "channel": SURVEY_CHANNEL, "via": via, "call_kept": True},
        )
    else:
        if task.status == TaskStatus.QUEUED:  # a worker holds it: hand it back first
            move(task, to=TaskStatus.SCHEDULED, table=TASK_TRANSITIONS, action="survey_answered")
        move(
            task,
            to=TaskStatus.DONE,
            table=TASK_TRANSITIONS,
            action=f"outcome_{CallOutcome.REACHED}",
            note=text,
            data={
                "satisfaction": score,
                "dissatisfied": unhappy,
                "channel": SURVEY_CHANNEL,
                "via": via,
            },
            extra_fields={
                "outcome": CallOutcome.REACHED,
                "satisfaction": score,
                "comments": text,
                "completed_at": now,
                "data": data,
                "updated_at": now,
            },
        )
    if unhappy:
        complaint_open(
            site=task.site,
            actor=None,
            channel=ComplaintChannel.FOLLOWUP_CALL,
            customer=task.customer,
            repair_order=task.repair_order,
            vehicle=task.vehicle,
            call_task=task,
            description=text or _("Not satisfied (score %(s)s).") % {"s": score},
            _by_customer=True,
        )
    return task


def _act_on_appointment(task, *, actor, outcome, new_start, reason) -> None:
    from appointments import services as appointments

    if task.appointment_id is None:
        raise ApplicationError(_("This reminder has no appointment."))
    if outcome == CallOutcome.CONFIRMED:
        appointments.appointment_confirm(appointment_id=task.appointment_id, actor=actor)
    elif outcome == CallOutcome.CANCEL:
        appointments.appointment_cancel(
            appointment_id=task.appointment_id,
            actor=actor,
            reason=reason or _("Cancelled on the reminder call."),
        )
    else:
        appointments.appointment_reschedule(
            appointment_id=task.appointment_id, start=new_start, actor=actor
        )


# --- a task's message that failed, or that the customer answered --------------------------------
def task_message_failed(*, message) -> str | None:
    """A task's message failed for good (refused, undeliverable, opted out at send time): it goes
    by the next channel the customer allows, else becomes a call for an agent; never dropped.
    Returns "fallback", "call", "none" (no way left: recorded) or None (not a task's)."""
    from messaging.services import channels_in_order, message_send

    from .backends import message_context, message_source_key, task_id_of

    task_id = task_id_of(message.source_key)
    task = (
        CallTask.objects.select_related("site", "customer", "vehicle").filter(pk=task_id).first()
        if task_id
        else None
    )
    if task is None or task.status == TaskStatus.CANCELLED:
        return None
    tried = set(task.data.get("channels_tried", [])) | {message.channel}
    failed = {
        "channel": message.get_channel_display(),
        "error": message.error or message.error_code,
    }
    for channel in channels_in_order(site=task.site, customer=task.customer):
        if channel in tried:
            continue
        task.data = {**task.data, "channels_tried": sorted(tried | {channel})}
        task.save(update_fields=["data", "updated_at"])
        message_send(
            site=task.site,
            kind=message.kind,
            context=message_context(task),
            customer=task.customer,
            channel=channel,
            source_key=f"{message_source_key(task.pk)}:{channel}",
            body=task.message,
        )
        audit.record(
            subject=task,
            action="message_fallback",
            from_state=task.status,
            to_state=task.status,
            note=_("The %(channel)s message failed (%(error)s); sent by %(next)s instead.")
            % {**failed, "next": channel},
        )
        return "fallback"
    return _call_instead(task, failed=failed, data={"failed_message_id": message.pk})


def _call_instead(
    task: CallTask, *, failed: dict, data: dict | None = None, now: datetime | None = None
) -> str:
    """A message of `task` could not reach the customer: an agent calls instead (same kind,
    key `<source>:call`), or, if the customer takes no calls, the failure is recorded."""
    if not (task.customer.consent_call and task.customer.phone):
        audit.record(
            subject=task,
            action="message_failed",
            from_state=task.status,
            to_state=task.status,
            note=_("The %(channel)s message failed (%(error)s); no other channel is allowed.")
            % failed,
        )
        return "none"
    now = now or timezone.now()
    due_at = next_call_start(site=task.site, at=now)
    task_schedule(
        site=task.site,
        kind=task.kind,
        source_key=f"{task.source_key}:call"[:80],
        customer=task.customer,
        vehicle=task.vehicle,
        appointment=task.appointment,
        repair_order=task.repair_order,
        due_at=due_at,
        due_until=max(task.due_until, due_at + timedelta(hours=4)),
        channel=Channel.CALL,
        message=task.message,
        data={**task.data, **(data or {})},
    )
    audit.record(
        subject=task,
        action="message_failed",
        from_state=task.status,
        to_state=task.status,
        note=_("The %(channel)s message failed (%(error)s); an agent will call.") % failed,
    )
    return "call"


@transaction.atomic
def call_task_answered(*, task_id: int, outcome: str, text: str) -> CallTask | None:
    """The customer answered a task's message: recorded as the task's outcome, as an agent's
    call would be (the customer is the actor, so none is recorded). A second answer changes
    nothing."""
    task = CallTask.objects.select_for_update().filter(pk=task_id).first()
    if task is None or task.status != TaskStatus.SENT:
        return None
    now = timezone.now()
    move(
        task,
        to=TaskStatus.DONE,
        table=TASK_TRANSITIONS,
        action=f"outcome_{outcome}",
        note=_("The customer replied “%(text)s”.") % {"text": text[:100]},
        data={"outcome": outcome, "by": "reply"},
        extra_fields={
            "outcome": outcome,
            "comments": text[:500],
            "completed_at": now,
            "updated_at": now,
        },
    )
    return task


# --- complaints --------------------------------------------------------------------------------
COMPLAINT_OPENERS = (Role.FOLLOWUP_AGENT, Role.ADVISOR)


def _choice(value, choices, field: str, message: str) -> str:
    if value not in choices.values:
        raise ApplicationError(message, fields={field: _("Choose one of the listed values.")})
    return value


def _amount(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        amount = Decimal("-1")
    if not amount.is_finite() or amount < 0:
        raise ApplicationError(
            _("Amounts cannot be negative."), fields={field: _("Enter an amount of 0 or more.")}
        )
    return amount.quantize(Decimal("0.01"))


def _get_complaint(complaint_id, *, actor) -> Complaint:
    from dms.exceptions import NotFoundError

    complaint = (
        Complaint.objects.select_for_update(of=("self",))
        .select_related("site", "repair_order", "customer", "handler")
        .filter(pk=complaint_id)
        .first()
    )
    if complaint is None or not has_role(actor, complaint.site):
        raise NotFoundError(_("No such complaint."))
    return complaint


@transaction.atomic
def complaint_open(
    *,
    site,
    actor,
    channel: str,
    customer,
    description: str,
    repair_order=None,
    vehicle=None,
    call_task=None,
    cause: str = "",
    _by_customer: bool = False,
) -> Complaint:
    """Open a complaint, linked to the RO, its advisor and its technicians."""
    if not _by_customer:
        require_role(actor, site, *COMPLAINT_OPENERS)
    _choice(channel, ComplaintChannel, "channel", _("Unknown complaint channel."))
    if cause:
        _choice(cause, ComplaintCause, "cause", _("Unknown cause."))
    errors = {}
    if not (description or "").strip():
        errors["description"] = _("Write down what the customer says.")
    if customer is None or customer.site_id != site.pk:
        errors["customer"] = _("Choose a customer of this site.")
    if repair_order is not None and (
        repair_order.site_id != site.pk or (customer and repair_order.customer_id != customer.pk)
    ):
        errors["repair_order"] = _("This repair order is not the customer's.")
    if errors:
        raise ApplicationError(_("The complaint could not be opened."), fields=errors)
    now = timezone.now()
    complaint = Complaint.objects.create(
        site=site,
        channel=channel,
        customer=customer,
        vehicle=vehicle or (repair_order.vehicle if repair_order else None),
        repair_order=repair_order,
        advisor=repair_order.advisor if repair_order else None,
        call_task=call_task,
        description=description.strip(),
        cause=cause,
        opened_by=actor,
        respond_by=now + timedelta(hours=site.complaint_response_hours),
    )
    if repair_order is not None:
        tech_ids = set(
            repair_order.lines.filter(technician__isnull=False).values_list(
                "technician_id", flat=True
            )
        )
        complaint.technicians.set(tech_ids)
    audit.record(
        subject=complaint,
        action="opened",
        actor=actor,
        to_state=complaint.status,
        note=complaint.description,
        data={"channel": channel},
    )
    return complaint


@transaction.atomic
def complaint_assign(*, complaint_id: int, actor, handler) -> Complaint:
    """Give the complaint a handler. Staff may take an unassigned one; a manager can assign it
    to anyone or take it over. Never the advisor the complaint is about."""
    complaint = _get_complaint(complaint_id, actor=actor)
    if handler is None:
        raise ApplicationError(_("Choose a handler."), fields={"handler": _("Required.")})
    taking_free = handler.pk == actor.pk and complaint.handler_id is None
    if not taking_free:
        require_role(actor, complaint.site, Role.MANAGER)
    require_role(handler, complaint.site, *COMPLAINT_OPENERS)
    if complaint.advisor_id and handler.pk == complaint.advisor_id:
        raise PermissionDeniedError(
            _("The advisor the complaint is about cannot handle it."),
            fields={"handler": _("Choose someone else.")},
        )
    if complaint.status not in (ComplaintStatus.OPEN, ComplaintStatus.ASSIGNED):
        # a manager taking over later keeps the state and records the change
        require_role(actor, complaint.site, Role.MANAGER)
        old = complaint.handler
        complaint.handler = handler
        complaint.save(update_fields=["handler", "updated_at"])
        audit.record(
            subject=complaint,
            action="taken_over",
            actor=actor,
            from_state=complaint.status,
            to_state=complaint.status,
            data={"from": old.get_username() if old else None, "to": handler.get_username()},
        )
        return complaint
    move(
        complaint,
        to=ComplaintStatus.ASSIGNED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action="assigned",
        idempotent=False,
        data={"handler": handler.get_username()},
        extra_fields={"handler": handler, "updated_at": timezone.now()},
    )
    return complaint


def _require_handler(complaint: Complaint, actor) -> None:
    if complaint.handler_id != actor.pk:
        require_role(actor, complaint.site, Role.MANAGER)


@transaction.atomic
def complaint_contact(*, complaint_id: int, actor, note: str) -> Complaint:
    complaint = _get_complaint(complaint_id, actor=actor)
    _require_handler(complaint, actor)
    if not (note or "").strip():
        raise ApplicationError(
            _("Note what was said."), fields={"note": _("Write down the conversation.")}
        )
    now = timezone.now()
    move(
        complaint,
        to=ComplaintStatus.CONTACTED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action="contacted",
        note=note.strip(),
        extra_fields={
            "contacted_at": complaint.contacted_at or now,
            "contact_note": note.strip(),
            "updated_at": now,
        },
    )
    return complaint


@transaction.atomic
def complaint_decide(
    *,
    complaint_id: int,
    actor,
    decision: str,
    cause: str,
    apology: str = "",
    explanation: str = "",
    rework_start: datetime | None = None,
    rework_hours=Decimal("1.0"),
    remedy_cost=0,
    free_inspection: bool = False,
    labour_discount=0,
) -> Complaint:
    """our_fault: apology + a free rework booked at the customer's convenience, cost recorded.
    not_our_fault: explanation + a free inspection offered, optional labour discount."""
    complaint = _get_complaint(complaint_id, actor=actor)
    _require_handler(complaint, actor)
    _choice(decision, ComplaintDecision, "decision", _("Choose our fault or not our fault."))
    _choice(cause, ComplaintCause, "cause", _("Choose the cause (for reports)."))
    cost = _amount(remedy_cost, "remedy_cost")
    discount = _amount(labour_discount, "labour_discount")
    fields = {"decision": decision, "cause": cause, "decided_at": timezone.now()}
    if decision == ComplaintDecision.OUR_FAULT:
        errors = {}
        if not apology.strip():
            errors["apology"] = _("Record the apology given to the customer.")
        if rework_start is None:
            errors["rework_start"] = _("Book the free rework at a time the customer chose.")
        if errors:
            raise ApplicationError(_("The decision is incomplete."), fields=errors)
        fields.update({"apology": apology.strip(), "remedy_cost": cost})
    else:
        if not explanation.strip():
            raise ApplicationError(
                _("The decision is incomplete."),
                fields={"explanation": _("Record the explanation given to the customer.")},
            )
        fields.update(
            {
                "explanation": explanation.strip(),
                "free_inspection_offered": bool(free_inspection),
                "labour_discount": discount,
            }
        )
    move(
        complaint,
        to=ComplaintStatus.DECIDED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action=f"decided_{decision}",
        note=fields.get("apology") or fields.get("explanation", ""),
        data={"cause": cause, "remedy_cost": str(cost), "labour_discount": str(discount)},
        extra_fields=fields,
    )
    if decision == ComplaintDecision.OUR_FAULT:
        complaint.rework_appointment = _book_rework(complaint, actor, rework_start, rework_hours)
        complaint.save(update_fields=["rework_appointment"])
    return complaint


def _book_rework(complaint, actor, start, hours):
    from appointments.services import appointment_book

    vehicle = complaint.vehicle or complaint.customer.vehicles.order_by("id").first()
    if vehicle is None:
        raise ApplicationError(
            _("The customer has no vehicle on record to book the rework for."),
            fields={"rework_start": _("Add the vehicle first.")},
        )
    return appointment_book(
        site=complaint.site,
        customer=complaint.customer,
        vehicle=vehicle,
        start=start,
        actor=actor,
        estimated_hours=hours,
        services=["complaint_rework"],
        source="customer",
        channel="phone",
        notes=_("Free rework for complaint #%(id)s.") % {"id": complaint.pk},
    )


@transaction.atomic
def complaint_resolve(*, complaint_id: int, actor, resolution: str) -> Complaint:
    """The remedy is done. A confirming call is scheduled; only it can close the complaint."""
    complaint = _get_complaint(complaint_id, actor=actor)
    _require_handler(complaint, actor)
    if not (resolution or "").strip():
        raise ApplicationError(_("Describe what was done."), fields={"resolution": _("Required.")})
    now = timezone.now()
    move(
        complaint,
        to=ComplaintStatus.RESOLVED,
        table=COMPLAINT_TRANSITIONS,
        actor=actor,
        action="resolved",
        note=resolution.strip(),
        extra_fields={"resolution": resolution.strip(), "resolved_at": now, "updated_at": now},
    )
    rounds = (
        CallTask.objects.filter(
            kind=TaskKind.COMPLAINT_CONFIRM, source_key__startswith=f"complaint:{complaint.pk}:"
        ).count()
        + 1
    )
    start = next_call_start(site=complaint.site, at=now)
    task, _created = task_schedule(
        site=complaint.site,
        kind=TaskKind.COMPLAINT_CONFIRM,
        source_key=f"complaint:{complaint.pk}:{rounds}",
        customer=complaint.customer,
        vehicle=complaint.vehicle,
        repair_order=complaint.repair_order,
        due_at=start,
        due_until=start + timedelta(days=3),
        assignee=_pick_agent(
            site=complaint.site, exclude_ids=[complaint.advisor_id, complaint.handler_id]
        ),
        data={"complaint_id": complaint.pk, "advisor_id": complaint.advisor_id},
    )
    complaint.confirm_task = task
    complaint.save(update_fields=["confirm_task"])
    return complaint


def next_call_start(*, site, at: datetime) -> datetime:
    """The next moment inside calling hours on an open day (for calls the system schedules)."""
    local_at = timezone.localtime(at, site.tzinfo)
    for day in _open_days(site, local_at.date(), local_at.date() + timedelta(days=31)):
        start = _at(site, day, site.calling_hours_start)
        end = _at(site, day, site.calling_hours_end)
        if local_at < end:
            return max(start, local_at)
    return at


@transaction.atomic
def complaint_confirm(
    *, complaint_id: int, actor, satisfied: bool, comments: str = ""
) -> Complaint:
    """The confirming call's answer: satisfied closes the complaint; not satisfied sends it back
    to the handler (contacted) for another remedy."""
    complaint = _get_complaint(complaint_id, actor=actor)
    if complaint.status != ComplaintStatus.RESOLVED:
        raise ConflictError(
            _("Only a resolved complaint can be confirmed with the customer."),
            extra={"state": complaint.status},
        )
    now = timezone.now()
    if satisfied:
        move(
            complaint,
            to=ComplaintStatus.CLOSED,
            table=COMPLAINT_TRANSITIONS,
            actor=actor,
            action="closed",
            note=comments.strip() or _("The customer confirmed they are satisfied."),
            extra_fields={"closed_at": now, "updated_at": now},
        )
    else:
        move(
            complaint,
            to=ComplaintStatus.CONTACTED,
            table=COMPLAINT_TRANSITIONS,
            actor=actor,
            action="reopened",
            note=comments.strip() or _("The customer is still not satisfied."),
            extra_fields={"updated_at": now},
        )
    return complaint


def complaints_escalate(*, now: datetime | None = None) -> int:
    """Complaints not contacted by their response time escalate to the service manager
    (audited once; the dashboard and complaint list show them)."""
    now = now or timezone.now()
    count = 0
    ids = list(
        Complaint.objects.filter(
            status__in=(ComplaintStatus.OPEN, ComplaintStatus.ASSIGNED),
            respond_by__lt=now,
            escalated_at__isnull=True,
        ).values_list("id", flat=True)
    )
    for complaint_id in ids:
        with transaction.atomic():
            c = (
                Complaint.objects.select_for_update()
                .filter(pk=complaint_id, escalated_at__isnull=True)
                .first()
            )
            if c is None:
                continue
            c.escalated_at = now
            c.save(update_fields=["escalated_at", "updated_at"])
            audit.record(
                subject=c,
                action="escalated",
                from_state=c.status,
                to_state=c.status,
                note=_("Not contacted within %(h)d hours.")
                % {"h": c.site.complaint_response_hours},
            )
            count += 1
    return count
