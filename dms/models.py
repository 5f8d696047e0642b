"""Sites (dealerships), their settings, staff roles and the audit trail."""

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class DispatchMode(models.TextChoices):
    DISPATCHER = "dispatcher", _("Workshop dispatcher assigns jobs")
    TEAM = "team", _("Advisor leads a team and assigns jobs")


class Site(models.Model):
    """One dealership rooftop (4S店). Every record belongs to one site."""

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_(
            "A site that closes is deactivated, never deleted: nobody works there any more, "
            "its records and audit trail are kept."
        ),
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    labour_rate = models.DecimalField(
        _("labour rate per hour"),
        max_digits=8,
        decimal_places=2,
        default=Decimal("180.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    tax_rate = models.DecimalField(
        _("tax rate"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.130"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    dispatch_mode = models.CharField(
        _("dispatch mode"),
        max_length=12,
        choices=DispatchMode.choices,
        default=DispatchMode.DISPATCHER,
    )
    # reception slot pattern: slot length; per cycle of N slots the last B are buffers
    slot_minutes = models.PositiveSmallIntegerField(
        _("reception slot length (minutes)"),
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(120)],
    )
    slots_per_cycle = models.PositiveSmallIntegerField(
        _("slots per cycle"), default=4, validators=[MinValueValidator(1)]
    )
    buffer_slots_per_cycle = models.PositiveSmallIntegerField(
        _("buffer slots per cycle"),
        default=1,
        help_text=_("kept free for walk-ins and urgent cases"),
    )
    technicians_on_duty = models.PositiveSmallIntegerField(_("technicians on duty"), default=6)
    technician_hours_per_day = models.DecimalField(
        _("technician hours per day"), max_digits=4, decimal_places=1, default=Decimal("8.0")
    )
    bookable_share = models.DecimalField(
        _("bookable share of workshop hours"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.80"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    no_show_grace_minutes = models.PositiveSmallIntegerField(
        _("no-show grace (minutes)"), default=30
    )
    reminder_day_before_hour = models.PositiveSmallIntegerField(
        _("day-before reminder call at (hour)"),
        default=16,
        validators=[MaxValueValidator(23)],
    )
    reminder_before_minutes = models.PositiveSmallIntegerField(
        _("short reminder before the slot (minutes)"), default=120
    )
    followup_min_days = models.PositiveSmallIntegerField(_("follow-up from (days)"), default=2)
    followup_max_days = models.PositiveSmallIntegerField(_("follow-up until (days)"), default=5)
    followup_max_attempts = models.PositiveSmallIntegerField(_("follow-up attempts"), default=3)
    followup_call_for_warranty = models.BooleanField(
        _("warranty customers get the follow-up call after an online answer"),
        default=True,
        help_text=_("an online survey answer then does not replace the call for them"),
    )
    calling_hours_start = models.TimeField(_("calling hours from"), default=time(9, 0))
    calling_hours_end = models.TimeField(_("calling hours until"), default=time(20, 0))
    complaint_response_hours = models.PositiveSmallIntegerField(
        _("complaint response time (hours)"), default=24
    )
    retention_at_risk_months = models.PositiveSmallIntegerField(
        _("at risk after (months)"), default=3
    )
    retention_nearly_lost_months = models.PositiveSmallIntegerField(
        _("nearly lost after (months)"), default=6
    )
    retention_lost_months = models.PositiveSmallIntegerField(_("lost after (months)"), default=9)
    comeback_days = models.PositiveSmallIntegerField(_("comeback window (days)"), default=30)
    marketing_contacts_per_month = models.PositiveSmallIntegerField(
        _("marketing contacts per customer per month"), default=2
    )
    abc_a_min_visits = models.PositiveSmallIntegerField(
        _("class A: visits in 12 months"), default=3
    )
    abc_a_top_spend_share = models.DecimalField(
        _("class A: top share of spend"), max_digits=3, decimal_places=2, default=Decimal("0.20")
    )

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(buffer_slots_per_cycle__lt=models.F("slots_per_cycle")),
                name="site_buffer_lt_cycle",
                violation_error_message=_("A cycle needs at least one bookable slot."),
            ),
            models.CheckConstraint(
                condition=models.Q(followup_min_days__lte=models.F("followup_max_days")),
                name="site_followup_window_order",
                violation_error_message=_("The follow-up window must start before it ends."),
            ),
            models.CheckConstraint(
                condition=models.Q(calling_hours_start__lt=models.F("calling_hours_end")),
                name="site_calling_hours_order",
                violation_error_message=_("Calling hours must start before they end."),
            ),
            models.CheckConstraint(
                condition=models.Q(
                    retention_at_risk_months__lt=models.F("retention_nearly_lost_months")
                )
                & models.Q(retention_nearly_lost_months__lt=models.F("retention_lost_months")),
                name="site_retention_order",
                violation_error_message=_(
                    "Retention thresholds must increase: at risk < nearly lost < lost."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self):
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.time_zone)

    @property
    def daily_bookable_hours(self) -> Decimal:
        return (
            Decimal(self.technicians_on_duty) * self.technician_hours_per_day * self.bookable_share
        ).quantize(Decimal("0.1"))

    def clean(self) -> None:
        from zoneinfo import available_timezones

        if self.time_zone not in available_timezones():
            raise ValidationError({"time_zone": _("Unknown time zone “%s”.") % self.time_zone})


class OpeningHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["site", "weekday"]
        constraints = [
            models.UniqueConstraint(fields=["site", "weekday"], name="opening_hours_one_per_day"),
            models.CheckConstraint(
                condition=models.Q(opens__lt=models.F("closes")),
                name="opening_hours_open_before_close",
                violation_error_message=_("Closing time must be after opening time."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"

    def clean(self) -> None:
        if self.opens and self.closes and self.closes <= self.opens:
            raise ValidationError({"closes": _("Closing time must be after opening time.")})


class ClosedDate(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="closed_dates")
    date = models.DateField(_("date"))
    reason = models.CharField(_("reason"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("closed date")
        verbose_name_plural = _("closed dates")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["site", "date"], name="closed_date_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.reason}"


class Role(models.TextChoices):
    ADVISOR = "advisor", _("Service advisor")
    DISPATCHER = "dispatcher", _("Workshop dispatcher")
    TECHNICIAN = "technician", _("Technician")
    QC_INSPECTOR = "qc_inspector", _("QC inspector")
    FOLLOWUP_AGENT = "followup_agent", _("Follow-up agent")
    PARTS_CLERK = "parts_clerk", _("Parts clerk")
    MANAGER = "manager", _("Service manager")


class StaffRole(models.Model):
    """A user holds a role at a site. A user may hold several roles and sites."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_roles"
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    team_lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="team_members",
        help_text=_("Team mode: the advisor who leads this technician's team."),
    )
    on_duty = models.BooleanField(_("on duty"), default=True)

    class Meta:
        verbose_name = _("staff role")
        verbose_name_plural = _("staff roles")
        constraints = [
            models.UniqueConstraint(fields=["user", "site", "role"], name="staff_role_unique"),
        ]
        indexes = [models.Index(fields=["site", "role"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.site}"


class AuditEntry(models.Model):
    """One row per state change or audited action: who, when, what, from, to, note.

    Every service that moves a status calls `dms.audit.record()`; the rows are also the events
    that webhooks publish.
    """

    # PROTECT: the audit trail outlives nothing by accident; sites are deactivated, not deleted
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+", null=True)
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.BigIntegerField()
    subject = GenericForeignKey("content_type", "object_id")
    action = models.CharField(_("action"), max_length=40)
    from_state = models.CharField(_("from"), max_length=40, blank=True)
    to_state = models.CharField(_("to"), max_length=40, blank=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.from_state}→{self.to_state}"


class IdempotencyRecord(models.Model):
    """The answer to an API write sent with an `Idempotency-Key`, replayed when it is retried."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.BinaryField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
