"""Writes of the outreach engine. Every call or message the system schedules goes through here.

Other apps call `task_schedule()` inside the transaction of the event that causes the task, and
`tasks_cancel()` when that event is undone or moved. The minute sweeper (`outreach_sweep`) claims due rows with
`SELECT … FOR UPDATE SKIP LOCKED` and hands their ids to workers (`task_dispatch`), which are
idempotent: they act only on a row still in `queued`.
"""

import logging
from datetime import datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from customers.models import Channel
from dms import audit
from dms.models import Role
from dms.statemachine import check_move, move, move_many

from . import contact, queue, signals
from .backends import Outgoing, TransientSendError
from .contact import next_call_start
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


# --- when a task may reach its customer: the one rule is in contact.py ---------------------------
def next_contact_time(*, task: CallTask, at: datetime) -> datetime | None:
    """The first moment at or after `at` when this task may reach its customer (contact.py:
    consent, calling hours, quiet hours, open days for calls). None when the customer opted out
    of the task's channel (never use it)."""
    return contact.next_contact_time(
        site=task.site,
        customer=task.customer,
        channel=task.channel,
        at=at,
        marketing=task.kind in MARKETING_KINDS,
    )


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


def task_move(
    task: CallTask,
    *,
    to: str,
    actor=None,
    action: str | None = None,
    note: str = "",
    data: dict | None = None,
    extra_fields: dict | None = None,
) -> CallTask:
    """Move a call task (locked by the caller) to `to` by the engine's transition table, with
    its audit entry: the one way the apps above change a task's state (the follow-up desk
    recording a call, a survey answered online); the table stays the engine's own."""
    return move(
        task,
        to=to,
        table=TASK_TRANSITIONS,
        actor=actor,
        action=action,
        note=note,
        data=data,
        extra_fields=extra_fields,
    )


# --- assignment ------------------------------------------------------------------------------
def agents_on_duty(*, site):
    User = get_user_model()
    return User.objects.filter(
        is_active=True,
        id__in=site.staff_roles.filter(role=Role.FOLLOWUP_AGENT, on_duty=True).values("user_id"),
    )


def pick_agent(*, site, exclude_ids=()):
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


def advisor_id(task: CallTask) -> int | None:
    """The service advisor of the visit behind the task (never given its follow-up call): the
    app that schedules a task about a visit puts it in the task's data."""
    return task.data.get("advisor_id")


# --- the sweeper and the workers -------------------------------------------------------------
def _enqueue(task_ids: list[int]) -> None:
    """Hand one claimed batch of ids to a worker, as one message. Runs after commit; if the broker is down the rows stay
    `queued` and the sweeper hands them out again after REQUEUE_AFTER."""
    try:
        queue.enqueue(queue.DISPATCH_BATCH, list(task_ids))
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
            .select_related("site", "customer")
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
        if task.assignee_id is None or task.assignee_id == advisor_id(task):
            agent = pick_agent(site=task.site, exclude_ids=[advisor_id(task)])
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
    customer = SimpleNamespace(**row)  # has the contact fields `contact` reads
    return (
        contact.channel_allowed(customer, row["channel"], marketing=row["kind"] in MARKETING_KINDS)
        and row["calling_hours_start"] <= clock < row["calling_hours_end"]
        and not contact.in_quiet_hours(customer, clock)
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
            CallTask.objects.select_related("site", "customer")
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
    try:
        for task_id in task_ids:
            queue.enqueue(queue.DISPATCH_TASK, task_id)
    except Exception:  # broker down: the rows stay queued; the sweeper hands them out again
        log.warning("Broker unavailable; %d task(s) wait for the next sweep", len(task_ids))


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
    call, created = task_schedule(
        site=task.site,
        kind=task.kind,
        source_key=f"{task.source_key}:call"[:80],
        customer=task.customer,
        vehicle=task.vehicle,
        due_at=due_at,
        due_until=max(task.due_until, due_at + timedelta(hours=4)),
        channel=Channel.CALL,
        message=task.message,
        data={**task.data, **(data or {})},
    )
    if created:  # the apps above link the call to what the message was about
        signals.task_copied.send(sender=CallTask, original=task, copy=call)
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


# --- a booking made from a task -----------------------------------------------------------------
def task_record_booking(*, task: CallTask, appointment_id: int, actor) -> None:
    """The customer booked an appointment from this task (proactive care's "book" button; the
    caller links the two): record the outcome "booked", moving the task by its table (only the
    engine moves call tasks): a call on the desk is done; one not yet due is cancelled (the
    customer booked before we called); a sent message keeps its status."""
    extra = {"outcome": "booked", "updated_at": timezone.now()}
    data = {"appointment": appointment_id, "kind": task.kind}
    if task.status == TaskStatus.OPEN:
        extra["completed_at"] = timezone.now()
        move(
            task,
            to=TaskStatus.DONE,
            table=TASK_TRANSITIONS,
            actor=actor,
            action="booked",
            data=data,
            extra_fields=extra,
        )
    elif task.status in (TaskStatus.SCHEDULED, TaskStatus.QUEUED):
        move(
            task,
            to=TaskStatus.CANCELLED,
            table=TASK_TRANSITIONS,
            actor=actor,
            action="booked",
            note=_("Booked before the reminder went out."),
            data=data,
            extra_fields=extra,
        )
    else:
        for name, value in extra.items():
            setattr(task, name, value)
        task.save(update_fields=list(extra))
        audit.record(
            subject=task,
            action="booked",
            actor=actor,
            from_state=task.status,
            to_state=task.status,
            data=data,
        )
