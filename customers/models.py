"""The customer and vehicle archive (客户档案)."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dms.models import Site


class Channel(models.TextChoices):
    CALL = "call", _("Phone call")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")


class Customer(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        COMPANY = "company", _("Company")

    class Title(models.TextChoices):
        NONE = "", _("—")
        MR = "mr", _("Mr")
        MS = "ms", _("Ms")

    class BoardDisplay(models.TextChoices):
        FULL_NAME = "full", _("Full name")
        SURNAME = "surname", _("Surname only")
        PLATE = "plate", _("Plate only")

    class Retention(models.TextChoices):
        ACTIVE = "active", _("Active (<3 months)")
        AT_RISK = "at_risk", _("At risk (3–6 months)")
        NEARLY_LOST = "nearly_lost", _("Nearly lost (6–9 months)")
        LOST = "lost", _("Lost (≥9 months)")
        NEW = "new", _("No visit yet")

    class AbcClass(models.TextChoices):
        A = "A", "A"
        B = "B", "B"
        C = "C", "C"

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="customers")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=120)
    title = models.CharField(
        _("title"), max_length=4, choices=Title.choices, blank=True, default=""
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("E.164"))
    phone2 = models.CharField(_("second phone"), max_length=20, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=10, choices=Channel.choices, default=Channel.CALL
    )
    preferred_contact_time = models.CharField(
        _("preferred contact time"), max_length=60, blank=True
    )
    consent_call = models.BooleanField(_("calls allowed"), default=True)
    consent_call_at = models.DateTimeField(null=True, blank=True)
    consent_sms = models.BooleanField(_("SMS allowed"), default=True)
    consent_sms_at = models.DateTimeField(null=True, blank=True)
    consent_email = models.BooleanField(_("e-mail allowed"), default=True)
    consent_email_at = models.DateTimeField(null=True, blank=True)
    consent_marketing = models.BooleanField(_("marketing allowed"), default=False)
    consent_marketing_at = models.DateTimeField(null=True, blank=True)
    quiet_hours_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    abc_class = models.CharField(
        _("ABC class"), max_length=1, choices=AbcClass.choices, default=AbcClass.C
    )
    retention = models.CharField(
        _("retention"), max_length=12, choices=Retention.choices, default=Retention.NEW
    )
    last_delivery_at = models.DateTimeField(_("last delivery"), null=True, blank=True)
    visits_12m = models.PositiveSmallIntegerField(_("visits in 12 months"), default=0)
    spend_12m = models.DecimalField(
        _("spend in 12 months"), max_digits=12, decimal_places=2, default=0
    )
    segmented_at = models.DateTimeField(_("segments computed"), null=True, blank=True)
    board_display = models.CharField(
        _("welcome board shows"),
        max_length=8,
        choices=BoardDisplay.choices,
        default=BoardDisplay.SURNAME,
    )
    notes = models.TextField(_("notes"), blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["site", "phone"]),
            models.Index(fields=["site", "retention"]),
            models.Index(fields=["site", "name"]),
            models.Index(fields=["site", "phone2"]),
            models.Index(fields=["site", "abc_class"]),
            models.Index(fields=["site", "last_delivery_at"]),
            # KPI retention buckets: counted from the index alone
            models.Index(
                fields=["site", "last_delivery_at"],
                include=["id"],
                condition=models.Q(merged_into__isnull=True, last_delivery_at__isnull=False),
                name="customer_retention_idx",
            ),
        ]
        # On Postgres, migration 0003 adds GIN trigram indexes on name for the one-box lookup.

    def __str__(self) -> str:
        return self.name

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None


class Vehicle(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="vehicles")
    owner = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="vehicles")
    vin = models.CharField(_("VIN"), max_length=17)
    # the last 6 characters of the VIN, as the front desk reads them off the windscreen
    vin_last6 = models.GeneratedField(
        expression=Right("vin", 6),
        output_field=models.CharField(max_length=6),
        db_persist=True,
    )
    vin_check_digit_ok = models.BooleanField(
        _("VIN check digit correct"),
        default=True,
        help_text=_("False when an advisor acknowledged a VIN whose check digit does not match."),
    )
    plate = models.CharField(_("plate"), max_length=10, blank=True)
    engine_number = models.CharField(_("engine number"), max_length=30, blank=True)
    make = models.CharField(_("make"), max_length=40, blank=True)
    model = models.CharField(_("model"), max_length=60, blank=True)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    colour = models.CharField(_("colour"), max_length=30, blank=True)
    purchase_date = models.DateField(_("purchase date"), null=True, blank=True)
    sold_by_site = models.BooleanField(_("sold by this site"), default=False)
    warranty_end = models.DateField(_("warranty until"), null=True, blank=True)
    mileage_km = models.PositiveIntegerField(_("mileage (km)"), default=0)
    mileage_read_at = models.DateField(_("mileage read on"), null=True, blank=True)
    service_interval_km = models.PositiveIntegerField(_("service interval (km)"), default=10000)
    service_interval_months = models.PositiveSmallIntegerField(
        _("service interval (months)"), default=6
    )
    next_service_due_date = models.DateField(_("next service due"), null=True, blank=True)
    next_service_due_km = models.PositiveIntegerField(
        _("next service due (km)"), null=True, blank=True
    )
    first_service_done = models.BooleanField(_("first service done"), default=False)
    insurance_renewal_date = models.DateField(_("insurance renewal"), null=True, blank=True)
    annual_inspection_date = models.DateField(_("annual inspection"), null=True, blank=True)
    licence_review_date = models.DateField(_("licence review"), null=True, blank=True)
    last_visit_at = models.DateTimeField(_("last visit"), null=True, blank=True)
    # estimated from the mileage history; refreshed on each reading and nightly
    km_per_day = models.DecimalField(
        _("km per day (estimated)"), max_digits=6, decimal_places=1, null=True, blank=True
    )
    km_due_on = models.DateField(_("service km reached on (estimated)"), null=True, blank=True)
    # the next service, by date or by projected mileage, first service included
    # (customers.service_due); every "due this month" reads it
    service_due_on = models.DateField(_("next service falls due on"), null=True, blank=True)
    # a new car sold by the site: the day its first service falls (or fell) due, by the same rule
    # (customers.service_due); the KPI's first-service capture reads it
    first_service_due_on = models.DateField(_("first service falls due on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ["plate", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "vin"],
                name="vehicle_vin_unique_per_site",
                violation_error_message=_("This VIN is already on another vehicle."),
            ),
            models.UniqueConstraint(
                fields=["site", "plate"],
                condition=~models.Q(plate=""),
                name="vehicle_plate_unique_per_site",
                violation_error_message=_("This plate is already on another vehicle."),
            ),
        ]
        indexes = [
            models.Index(fields=["site", "next_service_due_date"]),
            models.Index(fields=["site", "vin_last6"]),
            models.Index(fields=["site", "km_due_on"]),
            # "due this month" (the archive, the care list, the KPI tile) counts a group's month
            # (36,780 vehicles of 20 sites) from the index alone: 44 → 4 ms
            models.Index(
                fields=["site", "service_due_on"], include=["owner"], name="vehicle_due_on_idx"
            ),
            # the KPI's first-service capture: a period's cars due, with what it reads of them
            models.Index(
                fields=["site", "first_service_due_on"],
                include=["id", "first_service_done"],
                condition=models.Q(first_service_due_on__isnull=False),
                name="vehicle_first_service_day_idx",
            ),
            models.Index(fields=["owner", "plate"]),
            # the API's vehicle list pages by plate: the partial unique index above leaves out
            # vehicles without a plate, so it cannot give a site's vehicles in that order
            models.Index(fields=["site", "plate", "id"], name="vehicle_site_plate_idx"),
        ]
        # On Postgres, migration 0003 adds a GIN trigram index on plate (partial plates).

    def __str__(self) -> str:
        return self.plate or self.vin

    @property
    def in_warranty(self) -> bool:
        from django.utils import timezone

        return bool(self.warranty_end and self.warranty_end >= timezone.localdate())


class VehicleOwnership(models.Model):
    """Who owned a vehicle when. The open row (until is null) is the current owner."""

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="ownerships")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="ownerships")
    since = models.DateField(_("since"))
    until = models.DateField(_("until"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-since", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vehicle"],
                condition=models.Q(until__isnull=True),
                name="vehicle_one_current_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.vehicle} ← {self.customer}"


class MileageReading(models.Model):
    """An odometer reading: typed at the desk, read at intake, or imported. Feeds the km-per-day
    estimate behind mileage-based reminders."""

    class Source(models.TextChoices):
        DESK = "desk", _("Front desk")
        INTAKE = "intake", _("Intake (repair order)")
        IMPORT = "import", _("Import")
        CALL = "call", _("Phone call")

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="mileage_readings")
    km = models.PositiveIntegerField(_("km"))
    read_on = models.DateField(_("read on"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("mileage reading")
        verbose_name_plural = _("mileage readings")
        ordering = ["-read_on", "-id"]
        indexes = [models.Index(fields=["vehicle", "read_on"])]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.km} km @ {self.read_on}"


class ImportBatch(models.Model):
    """An uploaded customer/vehicle file: parsed, checked row by row, applied all at once."""

    class Status(models.TextChoices):
        CHECKED = "checked", _("Checked — waiting for confirmation")
        INVALID = "invalid", _("Has errors — nothing saved")
        APPLIED = "applied", _("Imported")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(_("file"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    rows = models.JSONField(default=list)
    errors = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"
