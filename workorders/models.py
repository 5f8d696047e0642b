"""The repair order (维修委托书): intake, estimate, authorization, work, QC, settlement."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from appointments.models import Appointment
from customers.models import Customer, Vehicle
from dms.models import Site


class ROStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    AUTHORIZED = "authorized", _("Authorized")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_APPROVAL = "waiting_approval", _("Waiting for approval")
    WAITING_PARTS = "waiting_parts", _("Waiting for parts")
    WORK_DONE = "work_done", _("Work done")
    QC = "qc", _("Quality check")
    REWORK = "rework", _("Rework")
    WASHING = "washing", _("Washing")
    READY = "ready", _("Ready")
    INVOICED = "invoiced", _("Invoiced")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = [s for s in ROStatus.values if s not in ("delivered", "cancelled")]


class RepairOrder(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="repair_orders")
    number = models.CharField(_("number"), max_length=24)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="repair_orders")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="repair_orders")
    advisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="advised_repair_orders"
    )
    appointment = models.OneToOneField(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="repair_order"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ROStatus.choices, default=ROStatus.DRAFT
    )
    is_first_service = models.BooleanField(_("first service (首保)"), default=False)
    concern = models.TextField(_("customer's concern"), blank=True)
    odometer_km = models.PositiveIntegerField(_("odometer (km)"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    opened_day = models.DateField(_("opened on"), help_text=_("site-local date"), db_index=True)
    promised_at = models.DateTimeField(_("promised delivery"), null=True, blank=True)
    first_promised_at = models.DateTimeField(null=True, blank=True)
    not_to_exceed = models.DecimalField(
        _("not to exceed"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    estimate_version = models.PositiveIntegerField(_("estimate version"), default=1)
    authorized_at = models.DateTimeField(null=True, blank=True)
    work_done_at = models.DateTimeField(null=True, blank=True)
    qc_fail_count = models.PositiveSmallIntegerField(_("QC failures"), default=0)
    qc_passed_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    invoiced_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivered_day = models.DateField(null=True, blank=True, db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=200, blank=True)
    labour_total = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    parts_total = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    discount_total = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    tax_total = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    grand_total = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    comeback_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="comebacks"
    )
    comeback_confirmed = models.BooleanField(null=True, blank=True)
    next_service_due_date = models.DateField(null=True, blank=True)
    next_service_due_km = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("repair order")
        verbose_name_plural = _("repair orders")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "number"], name="ro_number_unique_per_site"),
        ]
        indexes = [
            models.Index(fields=["site", "status"]),
            models.Index(fields=["site", "opened_day"]),
            models.Index(fields=["site", "delivered_day"]),
            models.Index(fields=["vehicle", "opened_at"]),
        ]

    def __str__(self) -> str:
        return self.number


class JobLine(models.Model):
    """One operation on an RO: labour (standard hours × rate), with its parts."""

    class Approval(models.TextChoices):
        AUTHORIZED = "authorized", _("Authorized with the RO")
        PROPOSED = "proposed", _("Proposed — waiting for the customer")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")

    class WorkStatus(models.TextChoices):
        PENDING = "pending", _("Not started")
        IN_PROGRESS = "in_progress", _("In progress")
        WAITING_PARTS = "waiting_parts", _("Waiting for parts")
        DONE = "done", _("Done")

    repair_order = models.ForeignKey(RepairOrder, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    operation_code = models.CharField(_("operation code"), max_length=30, blank=True)
    description = models.CharField(_("description"), max_length=200)
    standard_hours = models.DecimalField(
        _("standard hours"), max_digits=5, decimal_places=2, default=Decimal("0")
    )
    labour_rate = models.DecimalField(_("labour rate"), max_digits=8, decimal_places=2)
    labour_amount = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    discount = models.DecimalField(
        _("discount"), max_digits=10, decimal_places=2, default=Decimal("0")
    )
    is_additional = models.BooleanField(_("additional work"), default=False)
    approval = models.CharField(
        _("approval"), max_length=12, choices=Approval.choices, default=Approval.AUTHORIZED
    )
    declined_reason = models.CharField(_("declined reason"), max_length=200, blank=True)
    work_status = models.CharField(
        _("work"), max_length=14, choices=WorkStatus.choices, default=WorkStatus.PENDING
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="job_lines",
    )
    bay = models.CharField(_("bay"), max_length=20, blank=True)
    actual_hours = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    signed_off_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("job line")
        verbose_name_plural = _("job lines")
        ordering = ["repair_order", "position", "id"]
        indexes = [models.Index(fields=["technician", "work_status"])]

    def __str__(self) -> str:
        return self.description


class PartLine(models.Model):
    class Stock(models.TextChoices):
        IN_STOCK = "in_stock", _("In stock")
        ORDERED = "ordered", _("Ordered")
        OUT_OF_STOCK = "out_of_stock", _("Out of stock")

    job = models.ForeignKey(JobLine, on_delete=models.CASCADE, related_name="parts")
    part_number = models.CharField(_("part number"), max_length=40, blank=True)
    name = models.CharField(_("part"), max_length=120)
    quantity = models.DecimalField(
        _("quantity"), max_digits=8, decimal_places=2, default=Decimal("1")
    )
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2)
    stock_status = models.CharField(
        _("stock"), max_length=14, choices=Stock.choices, default=Stock.IN_STOCK
    )
    expected_date = models.DateField(_("expected"), null=True, blank=True)

    class Meta:
        verbose_name = _("part line")
        verbose_name_plural = _("part lines")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="part_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="part_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))
