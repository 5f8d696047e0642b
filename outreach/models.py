"""The outreach engine: every call or message the system schedules is a CallTask row.

It knows nothing of appointments or repair orders: the apps above keep which of their rows a
task is about in their own link tables (`appointments.AppointmentCallTask`,
`workorders.RepairOrderCallTask`), and what the engine needs of them travels in the task
(`data["advisor_id"]`: whom not to give the call). The engine itself only schedules, claims,
contacts and records."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Channel, Customer, Vehicle
from dms import outbound
from dms.models import Site


class TaskKind(models.TextChoices):
    REMINDER_DAY_BEFORE = "reminder_day_before", _("Appointment reminder (day before)")
    REMINDER_SOON = "reminder_soon", _("Appointment reminder (shortly before)")
    FOLLOWUP = "followup", _("Follow-up call (2–5 days)")
    TECH_CALLBACK = "tech_callback", _("Technician call-back")
    COMPLAINT_CONFIRM = "complaint_confirm", _("Complaint confirming call")
    MAINTENANCE_DUE = "maintenance_due", _("Maintenance due")
    FIRST_SERVICE = "first_service", _("First service (首保)")
    INSURANCE_RENEWAL = "insurance_renewal", _("Insurance renewal")
    ANNUAL_INSPECTION = "annual_inspection", _("Annual inspection")
    LICENCE_REVIEW = "licence_review", _("Licence review")
    DECLINED_WORK = "declined_work", _("Declined work follow-up")
    WINBACK_AT_RISK = "winback_at_risk", _("Win-back (at risk)")
    WINBACK_NEARLY_LOST = "winback_nearly_lost", _("Win-back (nearly lost)")


class TaskStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")  # not yet due
    QUEUED = "queued", _("Queued for a worker")  # claimed by the sweeper
    OPEN = "open", _("On the desk")  # a call waiting for an agent
    DONE = "done", _("Done")
    SENT = "sent", _("Sent")
    UNREACHABLE = "unreachable", _("Unreachable")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


class CallTask(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="call_tasks")
    kind = models.CharField(_("kind"), max_length=24, choices=TaskKind.choices)
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.CALL
    )
    # What caused it; (kind, source_key) is unique, so a task never exists twice.
    source_key = models.CharField(max_length=80)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="call_tasks")
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.CASCADE, null=True, blank=True, related_name="call_tasks"
    )
    due_at = models.DateTimeField(_("due from"))
    due_until = models.DateTimeField(_("due until"))
    status = models.CharField(
        _("status"), max_length=12, choices=TaskStatus.choices, default=TaskStatus.SCHEDULED
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="call_tasks",
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    outcome = models.CharField(_("outcome"), max_length=20, blank=True)
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    comments = models.TextField(_("comments"), blank=True)
    message = models.TextField(_("message"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # the tables predate the outreach app (they moved out of followups with their rows)
        db_table = "followups_calltask"
        verbose_name = _("call task")
        verbose_name_plural = _("call tasks")
        ordering = ["due_until", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "source_key"], name="call_task_once_per_source"
            ),
            models.CheckConstraint(
                condition=models.Q(due_until__gte=models.F("due_at")), name="call_task_window_order"
            ),
            models.CheckConstraint(
                condition=models.Q(satisfaction__isnull=True)
                | models.Q(satisfaction__gte=1, satisfaction__lte=5),
                name="call_task_satisfaction_1_5",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["site", "status", "due_until"]),
            # an agent's open calls and the unassigned pool of their site (the follow-up desk):
            # with the site in the index the desk's queue no longer intersects the site's whole
            # task index (30,000 rows: 2.1 -> 1.05 ms, docs/benchmarks.md 2026-12-07)
            models.Index(fields=["assignee", "status", "site"], name="call_task_assignee_idx"),
            # the API's list of a site's tasks by deadline (cursor pages: no sort, no count)
            models.Index(fields=["site", "due_until", "id"], name="call_task_site_deadline_idx"),
            # follow-up calls completed in a period (KPI satisfaction)
            models.Index(
                fields=["site", "completed_at"],
                condition=models.Q(kind="followup", status="done", completed_at__isnull=False),
                name="call_task_site_completed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.customer}"


class CallOutcome(models.TextChoices):
    """What the agent records on a call task (reminder outcomes act on the appointment)."""

    REACHED = "reached", _("Reached")
    NO_ANSWER = "no_answer", _("No answer")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    CONFIRMED = "confirmed", _("Appointment confirmed")
    CANCEL = "cancel", _("Appointment cancelled")
    RESCHEDULE = "reschedule", _("Appointment moved")


# What a task's `outcome` can hold: the answers an agent records, and "booked" (a care call that
# ended in an appointment, `services.task_record_booking`).
RECORDED_OUTCOMES = [*CallOutcome.choices, ("booked", _("Booked"))]


class OutboundMessage(models.Model):
    """An SMS or e-mail handed to a channel backend, once per task (the unique task makes a
    second worker run unable to send it twice)."""

    task = models.OneToOneField(CallTask, on_delete=models.CASCADE, related_name="outbound")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    to = models.CharField(pgettext_lazy("recipient", "to"), max_length=254)
    body = models.TextField(_("message"))
    backend = models.CharField(_("backend"), max_length=120)
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)

    class Meta:
        db_table = "followups_outboundmessage"
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.to}"


class WebhookSubscription(models.Model):
    """A URL that receives the site's events as signed JSON (managed in the admin)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    name = models.CharField(_("name"), max_length=80)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"), max_length=128, help_text=_("HMAC-SHA256 key for X-DMS-Signature")
    )
    events = models.JSONField(
        _("events"),
        default=list,
        blank=True,
        help_text=_(
            'Event prefixes to send, e.g. ["repair_order", "complaint.closed"]; empty = all.'
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    max_attempts = models.PositiveSmallIntegerField(_("attempts"), default=8)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "followups_webhooksubscription"
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["site", "name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    def clean(self) -> None:
        """The URL must reach the public internet (checked again before every request)."""
        super().clean()
        if self.url:
            try:
                outbound.check_url(self.url)
            except outbound.RefusedURL as exc:
                raise ValidationError({"url": str(exc)}) from exc


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", pgettext_lazy("message delivery", "Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event for one subscription, with every attempt logged in `log`."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    entry = models.ForeignKey("dms.AuditEntry", on_delete=models.CASCADE, related_name="+")
    event = models.CharField(_("event"), max_length=80)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    log = models.JSONField(default=list, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "followups_webhookdelivery"
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "entry"], name="webhook_delivery_once_per_event"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription.url} ({self.status})"
