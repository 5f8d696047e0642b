"""The repair order (维修委托书): intake, estimate, authorization, work, QC, settlement."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from appointments.models import Appointment
from customers.models import Customer, Vehicle
from dms.media import random_name
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


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    CARD = "card", _("Bank card")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    TRANSFER = "transfer", _("Bank transfer")
    WARRANTY = "warranty", _("Warranty (no charge)")
    INSURANCE = "insurance", _("Insurance")


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
    # work pauses: where to go back to, and what the car is waiting for
    paused_from = models.CharField(max_length=20, blank=True)
    waiting_part = models.CharField(_("waiting for part"), max_length=120, blank=True)
    parts_expected_date = models.DateField(_("parts expected"), null=True, blank=True)
    # QC, rework, delays
    qc_checklist = models.JSONField(_("QC checklist"), default=dict, blank=True)
    qc_fail_reason = models.CharField(_("last QC failure"), max_length=300, blank=True)
    qc_failed_at = models.DateTimeField(null=True, blank=True)
    delay_notified_at = models.DateTimeField(_("customer told of the delay"), null=True, blank=True)
    washed_at = models.DateTimeField(null=True, blank=True)
    final_check = models.JSONField(_("final check"), default=dict, blank=True)
    # settlement and delivery
    ready_notified_at = models.DateTimeField(_("customer told it is ready"), null=True, blank=True)
    payment_method = models.CharField(
        _("payment method"), max_length=12, choices=PaymentMethod.choices, blank=True
    )
    invoice_number = models.CharField(_("invoice number"), max_length=30, blank=True)
    handover = models.JSONField(_("handover checklist"), default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The calls and messages about the visit (the follow-up, technician call-backs, complaint
    # calls, declined-work reminders). The outreach engine knows nothing of repair orders: the
    # link is kept here, one row per task; tasks filter by `repair_order=` through this table.
    call_tasks = models.ManyToManyField(
        "outreach.CallTask",
        through="RepairOrderCallTask",
        related_name="repair_order_set",
        related_query_name="repair_order",
        blank=True,
    )

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
            # the RO list and API: newest first per site (2M ROs: no sort of a site's history)
            models.Index(fields=["site", "-opened_at", "-id"], name="ro_site_newest_idx"),
            # KPI first-service capture: has this vehicle had its first service?
            models.Index(
                fields=["vehicle"],
                condition=models.Q(is_first_service=True) & ~models.Q(status=ROStatus.CANCELLED),
                name="ro_first_service_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class RepairOrderCallTask(models.Model):
    """The repair order a call task is about (at most one per task)."""

    task = models.OneToOneField(
        "outreach.CallTask",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="repair_order_link",
    )
    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="call_task_links"
    )

    class Meta:
        verbose_name = _("repair order's call task")
        verbose_name_plural = _("repair orders' call tasks")

    def __str__(self) -> str:
        return f"{self.repair_order_id} · {self.task_id}"


def repair_order_of(task):
    """The repair order `task` is about, or None (reads the link; select_related
    `repair_order_link__repair_order` to avoid a query per task)."""
    link = getattr(task, "repair_order_link", None)
    return link.repair_order if link is not None else None


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
    # the estimate version and line price the customer last agreed to
    approved_version = models.PositiveIntegerField(null=True, blank=True)
    approved_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
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
        indexes = [
            models.Index(fields=["technician", "work_status"]),
            # "jobs finished in a period" (KPI technician efficiency) by sign-off time
            models.Index(
                fields=["signed_off_at"],
                condition=models.Q(signed_off_at__isnull=False),
                name="job_line_signed_off_idx",
            ),
            # additional work proposed on a period's repair orders (KPI capture rate)
            models.Index(
                fields=["repair_order"],
                condition=models.Q(is_additional=True),
                name="job_line_additional_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def parts_amount(self) -> Decimal:
        return sum((p.amount for p in self.parts.all()), Decimal("0.00"))

    @property
    def amount(self) -> Decimal:
        """Labour plus parts, less the line's discount, before tax."""
        return self.labour_amount + self.parts_amount - self.discount

    @property
    def is_workable(self) -> bool:
        """Only authorized or approved lines may be worked."""
        return self.approval in AGREED_APPROVALS


# The work the customer agreed to (authorized with the estimate, or approved as additional
# work): the only lines worked, billed, printed on the settlement and counted by the KPIs.
AGREED_APPROVALS = frozenset({JobLine.Approval.AUTHORIZED, JobLine.Approval.APPROVED})


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


# --- additions: numbering, intake, estimate versions, approvals, photos ----------------------


class RONumberSequence(models.Model):
    """The last RO number issued per site and year; locked while numbering a new RO."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "year"], name="ro_number_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.site_id}/{self.year}: {self.last}"


class FuelLevel(models.TextChoices):
    EMPTY = "empty", _("Empty")
    QUARTER = "1/4", "1/4"
    HALF = "1/2", "1/2"
    THREE_QUARTERS = "3/4", "3/4"
    FULL = "full", _("Full")


# The walk-around panels (000): windshield, roof, tyres, body, bumpers, lamps, boot lid, rear
# glass, both sides.
DAMAGE_PANELS = {
    "windshield": _("Windshield"),
    "roof": _("Roof"),
    "tyres": _("Tyres and wheels"),
    "body": _("Body"),
    "front_bumper": _("Front bumper"),
    "rear_bumper": _("Rear bumper"),
    "lamps": _("Lamps"),
    "boot_lid": _("Boot lid"),
    "rear_glass": _("Rear glass"),
    "left_side": _("Left side"),
    "right_side": _("Right side"),
}
INTERIOR_CHECKS = {
    "trim": _("Interior trim"),
    "radio": _("Radio / infotainment"),
    "seat_belts": _("Seat belts"),
    "warning_lights": _("Dashboard warning lights"),
}


class Symptom:
    """Choices of the structured symptom interview (001/002)."""

    class Engine(models.TextChoices):
        ANY = "", _("Not relevant / unknown")
        COLD = "cold", _("Cold engine")
        HOT = "hot", _("Hot engine")

    class Speed(models.TextChoices):
        ANY = "", _("Not relevant / unknown")
        LOW = "low", _("Low speed")
        HIGH = "high", _("High speed")
        STANDING = "standing", _("Standing still")

    class Load(models.TextChoices):
        ANY = "", _("Not relevant / unknown")
        LOADED = "loaded", _("Loaded")
        EMPTY = "empty", _("Empty")

    class Road(models.TextChoices):
        ANY = "", _("Not relevant / unknown")
        PAVED = "paved", _("Paved road")
        DIRT = "dirt", _("Dirt / rough road")

    class Pattern(models.TextChoices):
        ANY = "", _("Not relevant / unknown")
        CONSTANT = "constant", _("Constant")
        INTERMITTENT = "intermittent", _("Intermittent")


class Intake(models.Model):
    """The walk-around (接车检查) recorded with the customer at reception."""

    repair_order = models.OneToOneField(
        RepairOrder, on_delete=models.CASCADE, related_name="intake"
    )
    covers_fitted = models.BooleanField(_("seat and steering-wheel covers fitted"), default=False)
    vin_read = models.CharField(_("VIN read from the car"), max_length=17, blank=True)
    vin_mismatch = models.BooleanField(_("VIN differs from the archive"), default=False)
    vin_mismatch_acknowledged = models.BooleanField(_("VIN mismatch acknowledged"), default=False)
    odometer_km = models.PositiveIntegerField(_("odometer (km)"), null=True, blank=True)
    odometer_reason = models.CharField(
        _("reason for a reading below the last one"), max_length=200, blank=True
    )
    fuel_level = models.CharField(
        _("fuel level"), max_length=5, choices=FuelLevel.choices, blank=True
    )
    damage = models.JSONField(_("exterior damage by panel"), default=dict, blank=True)
    interior = models.JSONField(_("interior checks"), default=dict, blank=True)
    valuables = models.CharField(
        _("valuables and accessories left in the car"), max_length=300, blank=True
    )
    engine_bay = models.CharField(_("engine bay"), max_length=300, blank=True)
    underbody_checked = models.BooleanField(_("underbody checked on the lift"), default=False)
    underbody_notes = models.CharField(_("underbody findings"), max_length=300, blank=True)
    symptom_engine = models.CharField(
        _("engine"), max_length=10, choices=Symptom.Engine.choices, blank=True
    )
    symptom_speed = models.CharField(
        _("speed"), max_length=10, choices=Symptom.Speed.choices, blank=True
    )
    symptom_load = models.CharField(
        _("load"), max_length=10, choices=Symptom.Load.choices, blank=True
    )
    symptom_road = models.CharField(
        _("road"), max_length=10, choices=Symptom.Road.choices, blank=True
    )
    symptom_pattern = models.CharField(
        _("occurs"), max_length=14, choices=Symptom.Pattern.choices, blank=True
    )
    symptom_since = models.CharField(_("since when"), max_length=100, blank=True)
    recent_repairs = models.CharField(_("recent repairs"), max_length=300, blank=True)
    added_equipment = models.CharField(_("added equipment"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("intake")
        verbose_name_plural = _("intakes")

    def __str__(self) -> str:
        return f"{self.repair_order} intake"

    def damage_list(self) -> list[tuple[str, str]]:
        return [(DAMAGE_PANELS.get(k, k), v) for k, v in self.damage.items() if v]

    def symptoms_list(self) -> list[str]:
        """The answers of the symptom interview that were given, as labels."""
        names = ["symptom_engine", "symptom_speed", "symptom_load", "symptom_road"]
        names.append("symptom_pattern")
        return [getattr(self, f"get_{n}_display")() for n in names if getattr(self, n)]

    def interior_list(self) -> list[tuple[str, str]]:
        return [(INTERIOR_CHECKS.get(k, k), v) for k, v in self.interior.items() if v]


def _photo_path(instance, filename: str) -> str:
    return random_name(f"ro/{instance.repair_order_id}", filename)


def _signature_path(instance, filename: str) -> str:
    return random_name("signatures", ".png")


class Photo(models.Model):
    """A photo on an RO: an intake damage photo (panel set) or a finding on a job line."""

    repair_order = models.ForeignKey(RepairOrder, on_delete=models.CASCADE, related_name="photos")
    job = models.ForeignKey(
        JobLine, on_delete=models.CASCADE, null=True, blank=True, related_name="photos"
    )
    panel = models.CharField(_("panel"), max_length=20, blank=True)
    image = models.FileField(_("photo"), upload_to=_photo_path)
    caption = models.CharField(_("caption"), max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.caption or self.image.name


class EstimateVersion(models.Model):
    """A frozen copy of the estimate as shown to the customer for an answer."""

    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="estimate_versions"
    )
    version = models.PositiveIntegerField()
    lines = models.JSONField(default=list)
    labour_total = models.DecimalField(max_digits=10, decimal_places=2)
    parts_total = models.DecimalField(max_digits=10, decimal_places=2)
    discount_total = models.DecimalField(max_digits=10, decimal_places=2)
    tax_total = models.DecimalField(max_digits=10, decimal_places=2)
    grand_total = models.DecimalField(max_digits=10, decimal_places=2)
    not_to_exceed = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    promised_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("estimate version")
        verbose_name_plural = _("estimate versions")
        ordering = ["repair_order", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["repair_order", "version"], name="estimate_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.repair_order} v{self.version}"


class ApprovalChannel(models.TextChoices):
    SIGNATURE = "signature", _("Signed on screen")
    IN_PERSON = "in_person", _("In person (verbal)")
    PHONE = "phone", _("Phone")
    LINK = "link", _("Private link")
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")


class Approval(models.Model):
    """One answer of the customer: the authorization, an answer on additional work, or consent
    to a total above the not-to-exceed amount. Records who, how, when and which estimate version."""

    class Kind(models.TextChoices):
        AUTHORIZATION = "authorization", _("Authorization of the RO")
        ADDITIONAL = "additional", _("Additional work")
        OVER_LIMIT = "over_limit", _("Total above the not-to-exceed amount")

    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="approvals"
    )
    kind = models.CharField(_("kind"), max_length=14, choices=Kind.choices)
    estimate_version = models.PositiveIntegerField(_("estimate version"))
    customer_name = models.CharField(_("answered by"), max_length=120)
    channel = models.CharField(_("channel"), max_length=10, choices=ApprovalChannel.choices)
    answered_at = models.DateTimeField(_("answered at"))
    approved_amount = models.DecimalField(
        _("approved total"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    signature = models.FileField(_("signature"), upload_to=_signature_path, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("empty when the customer answered from the private link"),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["answered_at", "id"]

    def __str__(self) -> str:
        return f"{self.repair_order} {self.kind} v{self.estimate_version}"


class ApprovalLine(models.Model):
    """The customer's answer on one job line, with the price they saw."""

    class Decision(models.TextChoices):
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")

    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="lines")
    job = models.ForeignKey(JobLine, on_delete=models.CASCADE, related_name="answers")
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    amount = models.DecimalField(_("price answered"), max_digits=10, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("answer on a line")
        verbose_name_plural = _("answers on lines")
        constraints = [
            models.UniqueConstraint(fields=["approval", "job"], name="approval_line_unique")
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.decision}"


class ApprovalLink(models.Model):
    """A private, expiring link the customer opens without logging in to answer proposed work."""

    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="approval_links"
    )
    token = models.CharField(max_length=64, unique=True)
    estimate_version = models.PositiveIntegerField()
    expires_at = models.DateTimeField(_("expires"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    approval = models.ForeignKey(
        Approval, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("approval link")
        verbose_name_plural = _("approval links")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.repair_order} link v{self.estimate_version}"


HANDOVER_ITEMS = {
    "work_explained": _("Work done explained"),
    "bill_explained": _("Bill explained line by line"),
    "old_parts_offered": _("Replaced parts shown / offered"),
    "usage_advice": _("Usage advice given"),
    "next_service_told": _("Next service date and mileage told"),
    "covers_removed": _("Covers removed, car clean"),
}
FINAL_CHECK_ITEMS = {
    "lines_done": _("Every line done"),
    "car_clean": _("Car clean inside and out"),
    "belongings": _("Customer's belongings in place"),
}
QC_ITEMS = {
    "road_test": _("Road test"),
    "steering": _("Steering"),
    "brakes": _("Brakes"),
    "lines_checked": _("Every line checked against the work"),
    "nothing_missing": _("Nothing missing or damaged"),
}


def _document_path(instance, filename: str) -> str:
    import secrets

    return f"documents/{instance.repair_order_id}/{secrets.token_urlsafe(18)}.pdf"


class SignedDocument(models.Model):
    """A signed document of an RO as a PDF, made once from frozen data and kept: the work order
    as authorised, each answer on additional work, the settlement at delivery."""

    class Kind(models.TextChoices):
        WORK_ORDER = "work_order", _("Work order as authorised")
        ADDITIONAL = "additional", _("Additional work approval")
        SETTLEMENT = "settlement", _("Settlement")

    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, related_name="documents"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    approval = models.ForeignKey(
        Approval, on_delete=models.CASCADE, null=True, blank=True, related_name="documents"
    )
    estimate_version = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(_("file"), upload_to=_document_path)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("signed document")
        verbose_name_plural = _("signed documents")
        ordering = ["repair_order", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["repair_order", "kind", "approval"],
                name="signed_document_once",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.repair_order} {self.kind}"
