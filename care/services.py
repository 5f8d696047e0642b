"""Writes of proactive care: the reminder rules, the nightly rule runner and booking from a task.

The runner turns each enabled rule into call tasks through `outreach.services.task_schedule`
(by way of `workorders.services.task_schedule_for`, which links a task to its repair order;
idempotent on kind + source key). For every candidate it checks, in this order:

1. the vehicle (or, for win-back, the customer) has no open task of the same kind;
2. no active appointment is already booked for it;
3. consent: the customer allows the rule's channel (or another one, in the order preferred,
   call, SMS, e-mail); a marketing rule also needs marketing consent;
4. recently contacted: no care task or follow-up call in the rule's quiet period;
5. the frequency cap: fewer than `Site.marketing_contacts_per_month` care tasks in 30 days;

then it schedules the task at the first calling-hours moment outside the customer's quiet hours
and the site's closed dates. A candidate skipped for 4 or 5 is tried again the next night, as long
as its window lasts.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from appointments.models import ACTIVE_STATUSES, Appointment, AppointmentCallTask
from customers import service_due
from customers.models import Channel, Customer, Vehicle
from customers.tasks import refresh_service_due
from dms import audit
from dms.exceptions import ApplicationError, ConflictError, NotFoundError
from dms.models import ClosedDate, Role, Site
from dms.permissions import require_role
from outreach import contact
from outreach import services as outreach
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import JobLine, RepairOrder, ROStatus
from workorders.services import task_schedule_for

from .models import CARE_KINDS, ReminderRule, ReminderRun, RuleKind

logger = logging.getLogger(__name__)

PENDING = (TaskStatus.SCHEDULED, TaskStatus.QUEUED, TaskStatus.OPEN)
CAP_DAYS = 30
RUN_HOUR = time(2, 0)  # the nightly run's notional time, in the site's time zone

# Defaults a site starts with; the manager changes them in the admin or the API.
RULE_DEFAULTS: dict[str, dict] = {
    RuleKind.MAINTENANCE_DUE: {
        "lead_days": 14,
        "window_days": 21,
        "channel": Channel.CALL,
        "message_zh": "{customer}您好，您的爱车{plate}预计将于{due_date}（约{due_km}公里）到期保养，"
        "欢迎预约到店，{site}电话{site_phone}。",
        "message_en": "Hello {customer}, your {plate} is due for service on {due_date} "
        "(about {due_km} km). Book a visit with {site}: {site_phone}.",
    },
    RuleKind.FIRST_SERVICE: {
        "lead_days": 14,
        "window_days": 30,
        "channel": Channel.CALL,
        "interval_months": service_due.FIRST_SERVICE_MONTHS,
        "interval_km": service_due.FIRST_SERVICE_KM,
        "message_zh": "{customer}您好，您的新车{plate}首保将于{due_date}（或{due_km}公里）到期，"
        "首保免费，欢迎预约，{site}电话{site_phone}。",
        "message_en": "Hello {customer}, the free first service of your new {plate} is due on "
        "{due_date} (or at {due_km} km). Book with {site}: {site_phone}.",
    },
    RuleKind.INSURANCE_RENEWAL: {
        "lead_days": 30,
        "window_days": 21,
        "channel": Channel.SMS,
        "message_zh": "{customer}您好，您的爱车{plate}的保险将于{due_date}到期，"
        "{site}可为您办理续保，电话{site_phone}。",
        "message_en": "Hello {customer}, the insurance of your {plate} ends on {due_date}. "
        "{site} can renew it for you: {site_phone}.",
    },
    RuleKind.ANNUAL_INSPECTION: {
        "lead_days": 30,
        "window_days": 21,
        "channel": Channel.SMS,
        "message_zh": "{customer}您好，您的爱车{plate}的年审将于{due_date}到期，"
        "可预约到店检测，{site}电话{site_phone}。",
        "message_en": "Hello {customer}, the annual inspection of your {plate} is due on "
        "{due_date}. Book a pre-check with {site}: {site_phone}.",
    },
    RuleKind.LICENCE_REVIEW: {
        "lead_days": 30,
        "window_days": 21,
        "channel": Channel.SMS,
        "message_zh": "{customer}您好，温馨提示：您的驾驶证将于{due_date}到期审验，请及时办理。"
        "{site}祝您行车平安。",
        "message_en": "Hello {customer}, a reminder: your driving licence is due for review on "
        "{due_date}. Safe driving from {site}.",
    },
    RuleKind.DECLINED_WORK: {
        "lead_days": 30,
        "window_days": 30,
        "channel": Channel.CALL,
        "message_zh": "{customer}您好，上次到店时建议的项目尚未处理：{items}，合计约{amount}元。"
        "欢迎预约，{site}电话{site_phone}。",
        "message_en": "Hello {customer}, the work we recommended on your {plate} is still open: "
        "{items}, about {amount} in total. Book with {site}: {site_phone}.",
    },
    RuleKind.WINBACK_AT_RISK: {
        "lead_days": 0,
        "window_days": 14,
        "channel": Channel.CALL,
        "is_marketing": True,
        "message_zh": "{customer}您好，您已有{months}个月未到店，{site}为您准备了保养优惠，"
        "欢迎预约，电话{site_phone}。",
        "message_en": "Hello {customer}, we have not seen your {plate} for {months} months. "
        "{site} has a service offer for you: {site_phone}.",
    },
    RuleKind.WINBACK_NEARLY_LOST: {
        "lead_days": 0,
        "window_days": 14,
        "channel": Channel.CALL,
        "is_marketing": True,
        "message_zh": "{customer}您好，您已有{months}个月未到店，{site}诚邀您回店免费检测，"
        "电话{site_phone}。",
        "message_en": "Hello {customer}, it has been {months} months since your last visit. "
        "{site} invites you to a free check: {site_phone}.",
    },
}

# The order rules run in: when several fall on one customer the same night, the first wins and
# the others wait for the quiet period to pass.
RULE_ORDER = [
    RuleKind.FIRST_SERVICE,
    RuleKind.MAINTENANCE_DUE,
    RuleKind.DECLINED_WORK,
    RuleKind.INSURANCE_RENEWAL,
    RuleKind.ANNUAL_INSPECTION,
    RuleKind.LICENCE_REVIEW,
    RuleKind.WINBACK_AT_RISK,
    RuleKind.WINBACK_NEARLY_LOST,
]


# --- rules -------------------------------------------------------------------------------------
def rules_ensure(*, site: Site) -> list[ReminderRule]:
    """Every kind of rule for the site, created with the defaults where missing."""
    existing = {r.kind: r for r in ReminderRule.objects.filter(site=site)}
    for kind in RULE_ORDER:
        if kind not in existing:
            existing[kind], _created = ReminderRule.objects.get_or_create(
                site=site, kind=kind, defaults=RULE_DEFAULTS[kind]
            )
    return [existing[k] for k in RULE_ORDER]


FIRST_SERVICE_FIGURES = ("interval_months", "interval_km")


def first_service_rule_changed(*, site_id: int) -> None:
    """The site's first-service months or km changed: once the change is committed, the stored
    next-service day of the site's vehicles is worked out again with them (a Celery task), so the
    due lists move with the calls."""
    transaction.on_commit(lambda: refresh_service_due.delay(site_id))


def rule_update(*, rule: ReminderRule, actor, **fields) -> ReminderRule:
    """Change a rule's settings (validated, audited). A change of the first service's months or
    km moves the stored next-service day of the site's vehicles (`first_service_rule_changed`)."""
    require_role(actor, rule.site, Role.MANAGER)
    from django.core.exceptions import ValidationError

    with transaction.atomic():
        rule = ReminderRule.objects.select_for_update().get(pk=rule.pk)
        before = {k: getattr(rule, k) for k in fields}
        for name, value in fields.items():
            setattr(rule, name, value)
        try:
            rule.full_clean()
        except ValidationError as exc:
            raise ApplicationError(_("The rule was not saved."), fields=exc.message_dict) from exc
        rule.save()
        audit.record(
            subject=rule,
            action="rule_changed",
            actor=actor,
            data={
                k: {"from": str(before[k]), "to": str(getattr(rule, k))}
                for k in fields
                if before[k] != getattr(rule, k)
            },
        )
        if rule.kind == RuleKind.FIRST_SERVICE and any(
            k in fields and before[k] != getattr(rule, k) for k in FIRST_SERVICE_FIGURES
        ):
            first_service_rule_changed(site_id=rule.site_id)
    return rule


# --- contact rules: the one rule is outreach.contact ------------------------------------------
def contact_channel(*, customer: Customer, rule: ReminderRule) -> str | None:
    """The channel to use, or None when the customer must not be contacted by this rule."""
    return contact.first_channel(
        customer,
        (rule.channel, customer.preferred_channel, Channel.CALL, Channel.SMS, Channel.EMAIL),
        marketing=rule.is_marketing,
    )


def contact_window(
    *,
    site: Site,
    customer: Customer,
    day: date,
    window_days: int,
    closed: set[date] | None = None,
    channel: str = Channel.CALL,
) -> tuple[datetime, datetime]:
    """The first moment on or after `day` (within 31 days) when `channel` may reach the
    customer (outreach.contact: calling hours, quiet hours, open days for calls); and the end
    of the window. `closed`: the site's closed dates, when already read."""
    tz = site.tzinfo
    start, end = site.calling_hours_start, site.calling_hours_end
    first = contact.first_window(
        site=site,
        customer=customer,
        channel=channel,
        earliest=datetime.combine(day, time.min, tzinfo=tz),
        latest=datetime.combine(day + timedelta(days=31), time.min, tzinfo=tz),
        closed=closed,
    )
    if first is not None:
        due_at = first[0]
        d = due_at.astimezone(tz).date()
        until_day = max(d, day + timedelta(days=max(window_days, 1) - 1))
        due_until = datetime.combine(until_day, end, tzinfo=tz)
        return due_at, max(due_until, due_at + timedelta(hours=1))
    # nothing fits (quiet hours cover the calling hours): leave it to the desk on the day
    due_at = datetime.combine(day, start, tzinfo=tz)
    return due_at, datetime.combine(day + timedelta(days=window_days), end, tzinfo=tz)


_NOT_A_CONTACT = (TaskStatus.CANCELLED, TaskStatus.FAILED)


def _recently_contacted(customer: Customer, *, now: datetime, days: int) -> bool:
    if not days:
        return False
    kinds = (*CARE_KINDS, TaskKind.FOLLOWUP)
    return (
        contact.contacts_around(
            customer, kinds=kinds, at=now, days=days, exclude_statuses=_NOT_A_CONTACT
        )
        > 0
    )


def _over_cap(customer: Customer, *, site: Site, now: datetime) -> bool:
    count = contact.contacts_around(
        customer, kinds=CARE_KINDS, at=now, days=CAP_DAYS, exclude_statuses=_NOT_A_CONTACT
    )
    return count >= site.marketing_contacts_per_month


def render_message(template: str, context: dict) -> str:
    class _Safe(dict):
        def __missing__(self, key):
            return "{" + key + "}"

    try:
        return template.format_map(_Safe({k: "" if v is None else v for k, v in context.items()}))
    except (ValueError, IndexError, AttributeError):
        return template


# --- the runner --------------------------------------------------------------------------------
@dataclass
class Candidate:
    kind: str
    source_key: str
    customer: Customer
    vehicle: Vehicle | None
    trigger: date  # the day the rule fires
    context: dict
    last_day: date | None = None  # the last day it may still fire (default trigger + window)
    repair_order: RepairOrder | None = None
    data: dict | None = None


class _Run:
    def __init__(self, site: Site, today: date):
        self.site = site
        self.today = today
        self.now = datetime.combine(today, RUN_HOUR, tzinfo=site.tzinfo)
        self.created: dict[str, int] = {}
        self.skipped: dict[str, dict[str, int]] = {}
        self.closed = set(
            ClosedDate.objects.filter(
                site=site, date__gte=today, date__lte=today + timedelta(days=60)
            ).values_list("date", flat=True)
        )

    def skip(self, kind: str, reason: str) -> None:
        self.skipped.setdefault(kind, {}).setdefault(reason, 0)
        self.skipped[kind][reason] += 1

    def in_window(self, rule: ReminderRule, trigger: date, last_day: date | None = None) -> bool:
        return trigger <= self.today <= (last_day or trigger + timedelta(days=rule.window_days))

    def offer(self, rule: ReminderRule, c: Candidate) -> CallTask | None:
        """Check one candidate under a lock on its customer and schedule its task."""
        with transaction.atomic():
            customer = Customer.objects.select_for_update().get(pk=c.customer.pk)
            if CallTask.objects.filter(kind=c.kind, source_key=c.source_key).exists():
                return self.skip(c.kind, "done_before")
            open_tasks = CallTask.objects.filter(kind=c.kind, status__in=PENDING)
            open_tasks = (
                open_tasks.filter(vehicle=c.vehicle)
                if c.vehicle is not None
                else open_tasks.filter(customer=customer)
            )
            if open_tasks.exists():
                return self.skip(c.kind, "open_task")
            booked = Appointment.objects.filter(
                customer=customer, status__in=ACTIVE_STATUSES, day__gte=self.today
            )
            if c.vehicle is not None:
                booked = booked.filter(vehicle=c.vehicle)
            if booked.exists():
                return self.skip(c.kind, "booked")
            channel = contact_channel(customer=customer, rule=rule)
            if channel is None:
                return self.skip(c.kind, "no_consent")
            if _recently_contacted(customer, now=self.now, days=rule.min_gap_days):
                return self.skip(c.kind, "recently_contacted")
            if _over_cap(customer, site=self.site, now=self.now):
                return self.skip(c.kind, "monthly_cap")
            due_at, due_until = contact_window(
                site=self.site,
                customer=customer,
                day=self.today,
                window_days=rule.window_days,
                closed=self.closed,
                channel=channel,
            )
            context = {
                "plate": c.vehicle.plate if c.vehicle else "",
                "vehicle": f"{c.vehicle.make} {c.vehicle.model}".strip() if c.vehicle else "",
                "site": self.site.name,
                "site_phone": self.site.phone,
                **c.context,
            }
            messages = {
                "zh-hans": render_message(
                    rule.message_zh, {**context, "customer": salutation(customer, "zh-hans")}
                ),
                "en": render_message(
                    rule.message_en, {**context, "customer": salutation(customer, "en")}
                ),
            }
            lang = "en" if settings.LANGUAGE_CODE.startswith("en") else "zh-hans"
            task, created = task_schedule_for(
                c.repair_order,
                site=self.site,
                kind=c.kind,
                source_key=c.source_key,
                customer=customer,
                vehicle=c.vehicle,
                due_at=due_at,
                due_until=due_until,
                channel=channel,
                message=messages[lang] or messages["zh-hans"] or messages["en"],
                data={
                    "rule_id": rule.pk,
                    "trigger": c.trigger.isoformat(),
                    "messages": messages,
                    "quiet_hours": [
                        customer.quiet_hours_start.isoformat()
                        if customer.quiet_hours_start
                        else None,
                        customer.quiet_hours_end.isoformat() if customer.quiet_hours_end else None,
                    ],
                    **(c.data or {}),
                },
            )
            if created:
                self.created[c.kind] = self.created.get(c.kind, 0) + 1
            return task

    # each rule yields its candidates for today -------------------------------------------------
    def candidates(self, rule: ReminderRule):
        kind = rule.kind
        if kind in (RuleKind.MAINTENANCE_DUE, RuleKind.FIRST_SERVICE):
            yield from self._service(rule)
        elif kind in (
            RuleKind.INSURANCE_RENEWAL,
            RuleKind.ANNUAL_INSPECTION,
            RuleKind.LICENCE_REVIEW,
        ):
            yield from self._dated(rule)
        elif kind == RuleKind.DECLINED_WORK:
            yield from self._declined(rule)
        else:
            yield from self._winback(rule)

    def _service(self, rule: ReminderRule):
        first = rule.kind == RuleKind.FIRST_SERVICE
        # the archive's one rule with the site's first-service rule: the day stored on the
        # vehicle, the one the due list shows
        for due in service_due.iter_service_due(site=self.site, today=self.today):
            if due.first_service != first:
                continue
            # from `lead_days` before the due date until `window_days` after it (overdue cars
            # are still called; a car long overdue is the win-back rules' business)
            trigger = due.due_on - timedelta(days=rule.lead_days)
            last_day = max(due.due_on, trigger) + timedelta(days=rule.window_days)
            if not self.in_window(rule, trigger, last_day):
                continue
            v = due.vehicle
            key = f"care:first:{v.pk}" if first else f"care:maint:{v.pk}:{due.cycle}"
            yield Candidate(
                kind=rule.kind,
                source_key=key,
                customer=v.owner,
                vehicle=v,
                trigger=trigger,
                context={
                    "due_date": due.due_on.isoformat(),
                    "due_km": due.due_km or "",
                },
                data={
                    "due_date": due.due_on.isoformat(),
                    "due_km": due.due_km,
                    "due_reason": due.reason,
                    "projected_km": due.projected_km,
                },
            )

    _DATE_FIELD = {
        RuleKind.INSURANCE_RENEWAL: "insurance_renewal_date",
        RuleKind.ANNUAL_INSPECTION: "annual_inspection_date",
        RuleKind.LICENCE_REVIEW: "licence_review_date",
    }

    def _dated(self, rule: ReminderRule):
        name = self._DATE_FIELD[rule.kind]
        # trigger = due - lead; fire while trigger <= today <= trigger + window
        low = self.today + timedelta(days=rule.lead_days - rule.window_days)
        high = self.today + timedelta(days=rule.lead_days)
        vehicles = (
            Vehicle.objects.filter(
                site=self.site,
                owner__merged_into__isnull=True,
                **{f"{name}__gte": low, f"{name}__lte": high},
            )
            .select_related("owner")
            .order_by(name, "id")
        )
        short = {"insurance_renewal_date": "ins", "annual_inspection_date": "insp"}.get(name, "lic")
        for v in vehicles.iterator(chunk_size=2000):
            due = getattr(v, name)
            yield Candidate(
                kind=rule.kind,
                source_key=f"care:{short}:{v.pk}:{due.isoformat()}",
                customer=v.owner,
                vehicle=v,
                trigger=due - timedelta(days=rule.lead_days),
                context={"due_date": due.isoformat()},
                data={"due_date": due.isoformat()},
            )

    def _declined(self, rule: ReminderRule):
        high = self.today - timedelta(days=rule.lead_days)
        low = high - timedelta(days=rule.window_days)
        later_visit = RepairOrder.objects.filter(
            vehicle=OuterRef("vehicle"), opened_day__gt=OuterRef("delivered_day")
        ).exclude(status=ROStatus.CANCELLED)
        ros = (
            RepairOrder.objects.filter(
                site=self.site,
                status=ROStatus.DELIVERED,
                delivered_day__gte=low,
                delivered_day__lte=high,
                lines__approval=JobLine.Approval.DECLINED,
                customer__merged_into__isnull=True,
            )
            .annotate(later=Subquery(later_visit.values("id")[:1]))
            .filter(later__isnull=True)
            .distinct()
            .select_related("customer", "vehicle")
            .order_by("delivered_day", "id")
        )
        for ro in ros.iterator(chunk_size=500):
            lines = list(
                JobLine.objects.filter(repair_order=ro, approval=JobLine.Approval.DECLINED)
                .prefetch_related("parts")
                .order_by("position", "id")
            )
            items, total, payload = [], Decimal("0"), []
            for line in lines:
                amount = line_amount(line)
                total += amount
                reason = f"（{line.declined_reason}）" if line.declined_reason else ""
                items.append(f"{line.description}{reason} ¥{amount}")
                payload.append(
                    {
                        "id": line.pk,
                        "description": line.description,
                        "reason": line.declined_reason,
                        "amount": str(amount),
                        "hours": str(line.standard_hours),
                    }
                )
            yield Candidate(
                kind=rule.kind,
                source_key=f"care:declined:{ro.pk}",
                customer=ro.customer,
                vehicle=ro.vehicle,
                repair_order=ro,
                trigger=ro.delivered_day + timedelta(days=rule.lead_days),
                context={"items": "；".join(items), "amount": f"{total:.2f}"},
                data={"declined_lines": payload, "amount": f"{total:.2f}"},
            )

    def _winback(self, rule: ReminderRule):
        months = (
            self.site.retention_at_risk_months
            if rule.kind == RuleKind.WINBACK_AT_RISK
            else self.site.retention_nearly_lost_months
        )
        next_months = (
            self.site.retention_nearly_lost_months
            if rule.kind == RuleKind.WINBACK_AT_RISK
            else self.site.retention_lost_months
        )
        # trigger = last visit + months + lead; a generous SQL range, then the exact check
        latest = self.today - timedelta(days=rule.lead_days + months * 28)
        earliest = self.today - timedelta(days=rule.lead_days + rule.window_days + months * 31 + 1)
        since = datetime.combine(earliest - timedelta(days=1), time(0), tzinfo=self.site.tzinfo)
        last_ro = RepairOrder.objects.filter(
            customer=OuterRef("pk"), status=ROStatus.DELIVERED
        ).order_by("-delivered_at")
        customers = (
            Customer.objects.filter(site=self.site, merged_into__isnull=True)
            .annotate(
                last_ro_at=Subquery(last_ro.values("delivered_at")[:1]),
                last_vehicle_id=Subquery(last_ro.values("vehicle_id")[:1]),
            )
            .filter(Q(last_delivery_at__gte=since) | Q(last_ro_at__gte=since))
            .order_by("id")
        )
        tz = self.site.tzinfo
        for customer in customers.iterator(chunk_size=2000):
            visits = [d for d in (customer.last_delivery_at, customer.last_ro_at) if d]
            last_day = timezone.localtime(max(visits), tz).date()
            if not (earliest <= last_day <= latest):
                continue
            trigger = service_due.add_months(last_day, months) + timedelta(days=rule.lead_days)
            if not self.in_window(rule, trigger):
                continue
            if self.today >= service_due.add_months(last_day, next_months):
                continue  # already in the next bucket: that rule's turn
            vehicle = (
                Vehicle.objects.filter(pk=customer.last_vehicle_id, owner=customer).first()
                or Vehicle.objects.filter(owner=customer).order_by("-last_visit_at", "id").first()
            )
            yield Candidate(
                kind=rule.kind,
                source_key=f"care:winback:{customer.pk}:{last_day.isoformat()}",
                customer=customer,
                vehicle=vehicle,
                trigger=trigger,
                context={"months": months, "due_date": last_day.isoformat()},
                data={"last_visit": last_day.isoformat(), "months": months},
            )


def salutation(customer: Customer, lang: str) -> str:
    """How a message addresses the customer: 王先生 / Mr 王建国 / the company name."""
    if customer.kind != Customer.Kind.PERSON or not customer.title:
        return customer.name
    if lang.startswith("zh"):
        return customer.name[:1] + {"mr": "先生", "ms": "女士"}[customer.title]
    title = {"mr": "Mr", "ms": "Ms"}[customer.title]
    return f"{title} {customer.name}"


def line_amount(line: JobLine) -> Decimal:
    parts = sum((p.amount for p in line.parts.all()), Decimal("0"))
    return (line.labour_amount - line.discount + parts).quantize(Decimal("0.01"))


def run_reminder_rules(*, site: Site, today: date | None = None) -> ReminderRun:
    """Run every enabled rule of the site for `today` (site-local date). Safe to run again:
    a second run the same day creates nothing new."""
    today = today or timezone.localdate(timezone=site.tzinfo)
    run = ReminderRun.objects.create(site=site, day=today)
    state = _Run(site, today)
    with translation.override(settings.LANGUAGE_CODE):
        for rule in rules_ensure(site=site):
            if not rule.enabled:
                continue
            for candidate in state.candidates(rule):
                state.offer(rule, candidate)
    run.created, run.skipped = state.created, state.skipped
    run.finished_at = timezone.now()
    run.save(update_fields=["created", "skipped", "finished_at"])
    logger.info("care run %s %s: created %s skipped %s", site.code, today, run.created, run.skipped)
    return run


# --- one-step booking from a task --------------------------------------------------------------
BOOKABLE = (*PENDING, TaskStatus.DONE, TaskStatus.SENT)


def book_from_task(
    *,
    task_id: int,
    actor,
    start: datetime,
    advisor=None,
    estimated_hours: Decimal | None = None,
    services: list | tuple | None = None,
    notes: str = "",
    override_reason: str = "",
) -> Appointment:
    """Turn a customer's yes on a care task into an appointment (source "proactive", linked to
    the task) and close the task with the outcome "booked", in one transaction."""
    try:
        from appointments import services as appointments
        from appointments.services import appointment_book
    except ImportError as exc:  # the appointments engine is not installed yet
        raise ApplicationError(_("Booking is not available yet.")) from exc

    with transaction.atomic():
        task = (
            CallTask.objects.select_for_update(of=("self",))
            .select_related("site", "customer", "vehicle")
            .filter(pk=task_id)
            .first()
        )
        if task is None or task.kind not in CARE_KINDS:
            raise NotFoundError(_("No such care task."))
        require_role(actor, task.site, Role.FOLLOWUP_AGENT, Role.ADVISOR)
        booked = AppointmentCallTask.objects.filter(task=task).first()
        if booked is not None:
            raise ConflictError(
                _("This task already booked appointment %(id)s.") % {"id": booked.appointment_id},
                extra={"appointment": booked.appointment_id},
            )
        if task.status not in BOOKABLE:
            raise ConflictError(
                _("A %(status)s task cannot be booked.") % {"status": task.get_status_display()},
                extra={"state": task.status},
            )
        if task.vehicle is None:
            raise ApplicationError(
                _("This task has no vehicle; book from the customer's archive instead."),
                fields={"vehicle": [_("Missing.")]},
            )
        default_services, default_hours, default_notes = _booking_defaults(task)
        appointment = appointment_book(
            site=task.site,
            customer=task.customer,
            vehicle=task.vehicle,
            start=start,
            actor=actor,
            advisor=advisor,
            estimated_hours=estimated_hours if estimated_hours is not None else default_hours,
            services=list(services) if services else default_services,
            source=Appointment.Source.PROACTIVE,
            channel=Appointment.BookingChannel.PHONE,
            notes="\n".join(n for n in (default_notes, notes) if n),
            override_reason=override_reason,
            call_task=task,
        )
        task.refresh_from_db()
        appointments.task_link(task=task, appointment=appointment)
        outreach.task_record_booking(task=task, appointment_id=appointment.pk, actor=actor)
    return appointment


# Service-menu codes a care task books by default, first one the site offers.
DEFAULT_SERVICE_CODES = {
    TaskKind.MAINTENANCE_DUE: ("maintenance", "minor-service", "oil-change"),
    TaskKind.FIRST_SERVICE: ("first-service", "first_service", "maintenance"),
    TaskKind.ANNUAL_INSPECTION: ("inspection", "annual-inspection"),
    TaskKind.WINBACK_AT_RISK: ("maintenance", "check-up"),
    TaskKind.WINBACK_NEARLY_LOST: ("check-up", "maintenance"),
}


def _booking_defaults(task: CallTask) -> tuple[list[str], Decimal | None, str]:
    """(service codes, estimated hours, notes) for booking a task without explicit choices:
    declined work books its own lines' hours and names them in the notes; the others book the
    matching item of the site's service menu when there is one."""
    from appointments.models import ServiceOffering

    lines = (task.data or {}).get("declined_lines") or []
    if task.kind == TaskKind.DECLINED_WORK and lines:
        hours = sum((Decimal(line.get("hours") or "0") for line in lines), Decimal("0"))
        notes = _("Declined work: %(items)s") % {
            "items": "; ".join(
                f"{line['description']} ¥{line['amount']}"
                + (f" ({line['reason']})" if line.get("reason") else "")
                for line in lines
            )
        }
        return [], max(hours, Decimal("0.5")), notes
    codes = DEFAULT_SERVICE_CODES.get(task.kind, ())
    offered = set(
        ServiceOffering.objects.filter(site=task.site, code__in=codes, active=True).values_list(
            "code", flat=True
        )
    )
    chosen = [c for c in codes if c in offered][:1]
    return chosen, None, str(task.get_kind_display())
