"""The outreach engine: every call or message the system schedules is a CallTask row."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from appointments.models import Appointment
from customers.models import Channel, Customer, Vehicle
from dms.models import Site
from workorders.models import RepairOrder


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
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, null=True, blank=True, related_name="call_tasks"
    )
    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, null=True, blank=True, related_name="call_tasks"
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
            models.Index(fields=["assignee", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.customer}"
