"""The follow-up desk: the follow-up call after delivery, who may make which call, and what
an agent records on a call (a reminder's outcome acts on the appointment, an unhappy customer
opens a complaint, a technical problem routes a call-back to the workshop)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import Channel
from dms import audit
from dms.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from dms.models import Role
from dms.permissions import has_role, require_role
from dms.statemachine import lock
from outreach import contact
from outreach.models import CallOutcome, CallTask, TaskKind, TaskStatus
from outreach.services import PENDING, advisor_id, next_contact_time, pick_agent, task_move
from workorders.models import repair_order_of
from workorders.services import task_schedule_for

from ..models import ComplaintChannel
from .complaints import complaint_confirm, complaint_open


def followup_window(*, site, delivered_at: datetime) -> tuple[datetime, datetime]:
    """(earliest, latest) for the follow-up call: the open days from delivery + min days to
    delivery + max days, calling hours on each. If every day of the window is closed, the call
    goes to the next open day, so it is never silently dropped."""
    delivered_day = timezone.localtime(delivered_at, site.tzinfo).date()
    first = delivered_day + timedelta(days=site.followup_min_days)
    last = delivered_day + timedelta(days=site.followup_max_days)
    days = contact.open_days(site, first, last + timedelta(days=31))
    inside = [d for d in days if d <= last] or days[:1] or [first]
    return (
        contact.local_at(site, inside[0], site.calling_hours_start),
        contact.local_at(site, inside[-1], site.calling_hours_end),
    )


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
    channel = contact.first_channel(customer, (Channel.CALL, Channel.SMS, Channel.EMAIL))
    assignee = (
        pick_agent(site=site, exclude_ids=[ro.advisor_id]) if channel == Channel.CALL else None
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
    task, created = task_schedule_for(
        ro,
        site=site,
        kind=TaskKind.FOLLOWUP,
        source_key=key,
        customer=customer,
        vehicle=ro.vehicle,
        due_at=due_at,
        due_until=due_until,
        channel=channel or Channel.CALL,
        assignee=assignee,
        message=message,
        data={"warranty": in_warranty, "advisor_id": ro.advisor_id, "ro_number": ro.number},
    )
    if created and channel is None:
        task = lock(CallTask, task.pk)
        task_move(
            task,
            to=TaskStatus.CANCELLED,
            action="cancelled",
            note=_("The customer opted out of calls, SMS and e-mail."),
        )
    return task


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
    if independent and user is not None and user.pk == advisor_id(task):
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
        .select_related("site", "repair_order_link__repair_order", "customer")
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

    ro = repair_order_of(task)
    if ro is not None:
        line = (
            ro.lines.filter(technician__isnull=False)
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
    callback, _created = task_schedule_for(
        repair_order_of(task),
        site=task.site,
        kind=TaskKind.TECH_CALLBACK,
        source_key=f"calltask:{task.pk}",
        customer=task.customer,
        vehicle=task.vehicle,
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
            task_move(
                task,
                to=TaskStatus.UNREACHABLE,
                actor=actor,
                note=_("No answer after %(n)d attempt(s).") % {"n": attempts},
                data=data,
                extra_fields={**fields, "completed_at": now},
            )
        else:
            task_move(
                task,
                to=TaskStatus.SCHEDULED,
                actor=actor,
                action="retry",
                note=_("No answer; next attempt from %(at)s.")
                % {"at": timezone.localtime(next_at, task.site.tzinfo).strftime("%Y-%m-%d %H:%M")},
                data=data,
                extra_fields={**fields, "due_at": next_at},
            )
        return task
    if outcome == CallOutcome.WRONG_NUMBER:
        task_move(
            task,
            to=TaskStatus.UNREACHABLE,
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
    task_move(
        task,
        to=TaskStatus.DONE,
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
            repair_order=repair_order_of(task),
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
        .select_related("site", "repair_order_link__repair_order", "customer", "vehicle")
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
            task_move(task, to=TaskStatus.SCHEDULED, action="survey_answered")
        task_move(
            task,
            to=TaskStatus.DONE,
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
            repair_order=repair_order_of(task),
            vehicle=task.vehicle,
            call_task=task,
            description=text or _("Not satisfied (score %(s)s).") % {"s": score},
            _by_customer=True,
        )
    return task


def _act_on_appointment(task, *, actor, outcome, new_start, reason) -> None:
    from appointments import services as appointments
    from appointments.models import appointment_of

    appointment = appointment_of(task)
    if appointment is None:
        raise ApplicationError(_("This reminder has no appointment."))
    if outcome == CallOutcome.CONFIRMED:
        appointments.appointment_confirm(appointment_id=appointment.pk, actor=actor)
    elif outcome == CallOutcome.CANCEL:
        appointments.appointment_cancel(
            appointment_id=appointment.pk,
            actor=actor,
            reason=reason or _("Cancelled on the reminder call."),
        )
    else:
        appointments.appointment_reschedule(
            appointment_id=appointment.pk, start=new_start, actor=actor
        )
