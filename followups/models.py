"""The follow-up desk's own records: complaints (投诉) and their handling."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from appointments.models import Appointment
from customers.models import Customer, Vehicle
from dms.models import Site
from outreach.models import CallTask
from workorders.models import RepairOrder


class ComplaintChannel(models.TextChoices):
    ON_SITE = "on_site", _("On site")
    FOLLOWUP_CALL = "followup_call", _("Follow-up call")
    INBOUND_CALL = "inbound_call", _("Inbound call")
    LETTER = "letter", _("Letter")
    AUTHORITY = "authority", _("Authority")


class ComplaintStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("complaint status", "Open")
    ASSIGNED = "assigned", _("Handler assigned")
    CONTACTED = "contacted", _("Customer contacted")
    DECIDED = "decided", _("Decision made")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class ComplaintDecision(models.TextChoices):
    OUR_FAULT = "our_fault", _("Our fault")
    NOT_OUR_FAULT = "not_our_fault", _("Not our fault")


class ComplaintCause(models.TextChoices):
    WORKMANSHIP = "workmanship", _("Workmanship")
    PARTS = "parts", _("Parts")
    COMMUNICATION = "communication", _("Communication")
    PRICE = "price", _("Price / invoice")
    WAITING = "waiting", _("Waiting / late delivery")
    ATTITUDE = "attitude", _("Staff attitude")
    PRODUCT = "product", _("Vehicle quality (manufacturer)")
    OTHER = "other", _("Other")


class Complaint(models.Model):
    """A dissatisfaction case (投诉): handler, contact, decision, remedy, confirming call."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="complaints")
    channel = models.CharField(_("channel"), max_length=16, choices=ComplaintChannel.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=ComplaintStatus.choices, default=ComplaintStatus.OPEN
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="complaints")
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, null=True, blank=True, related_name="complaints"
    )
    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="complaints"
    )
    advisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="complaints_as_advisor",
    )
    technicians = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="complaints_as_technician"
    )
    call_task = models.ForeignKey(
        CallTask,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="complaints",
        help_text=_("the follow-up call that opened it"),
    )
    description = models.TextField(_("what the customer says"))
    cause = models.CharField(_("cause"), max_length=16, choices=ComplaintCause.choices, blank=True)
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="complaints_handled",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    opened_at = models.DateTimeField(pgettext_lazy("complaint", "opened"), auto_now_add=True)
    respond_by = models.DateTimeField(_("contact the customer by"))
    contacted_at = models.DateTimeField(_("contacted"), null=True, blank=True)
    contact_note = models.TextField(_("contact note"), blank=True)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    decision = models.CharField(
        _("decision"), max_length=16, choices=ComplaintDecision.choices, blank=True
    )
    apology = models.TextField(_("apology"), blank=True)
    explanation = models.TextField(_("explanation"), blank=True)
    rework_appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    remedy_cost = models.DecimalField(
        _("cost of the remedy"), max_digits=10, decimal_places=2, default=0
    )
    free_inspection_offered = models.BooleanField(_("free inspection offered"), default=False)
    labour_discount = models.DecimalField(
        _("labour discount"), max_digits=10, decimal_places=2, default=0
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    confirm_task = models.ForeignKey(
        CallTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remedy_cost__gte=0) & models.Q(labour_discount__gte=0),
                name="complaint_amounts_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "status", "respond_by"]),
            models.Index(fields=["site", "cause"]),
            # the API's complaint list, most urgent first whatever the status
            models.Index(fields=["site", "respond_by", "id"], name="complaint_site_respond_idx"),
            # the KPI's complaints of a period (opened or closed in it): the period's few rows by
            # time, the sites filtered after; a group's month read all 46,000 rows (17 → 2 ms)
            models.Index(fields=["opened_at"], name="complaint_opened_idx"),
            models.Index(fields=["closed_at"], name="complaint_closed_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer}"

    @property
    def technicians_in_order(self) -> list:
        """The technicians who worked on the visit, in user-id order (a prefetch is used)."""
        return sorted(self.technicians.all(), key=lambda user: user.pk)
