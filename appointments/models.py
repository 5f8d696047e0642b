"""Appointments (维修预约): a reception slot with an advisor plus workshop hours."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Vehicle
from dms.models import Site


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", _("Booked")
    CONFIRMED = "confirmed", _("Confirmed")
    RESCHEDULING = "rescheduling", _("Waiting for a new time")
    ARRIVED = "arrived", _("Arrived")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No show")


# Appointments in these states hold their slot and their workshop hours.
ACTIVE_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.RESCHEDULING,
    AppointmentStatus.ARRIVED,
)


class Appointment(models.Model):
    class Source(models.TextChoices):
        PROACTIVE = "proactive", _("Proactive (we called)")
        CUSTOMER = "customer", _("Customer asked")

    class BookingChannel(models.TextChoices):
        PHONE = "phone", _("Phone")
        ONLINE = "online", _("Online")
        WALK_IN = "walk_in", _("Walk-in")
        FRONT_DESK = "front_desk", _("Front desk")
        CALL_CENTRE = "call_centre", _("Call centre")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="appointments")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="appointments")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="appointments")
    advisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    day = models.DateField(_("day"), help_text=_("the start's date in the site's time zone"))
    estimated_hours = models.DecimalField(
        _("estimated labour hours"), max_digits=5, decimal_places=1, default=Decimal("1.0")
    )
    services = models.JSONField(_("services"), default=list, blank=True)
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.CUSTOMER
    )
    channel = models.CharField(
        _("channel"), max_length=12, choices=BookingChannel.choices, default=BookingChannel.PHONE
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.BOOKED,
    )
    is_buffer_slot = models.BooleanField(_("in a buffer slot"), default=False)
    override_reason = models.CharField(_("override reason"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    to_confirm = models.BooleanField(
        _("details to confirm at check-in"),
        default=False,
        help_text=_("booked online by a customer or for a vehicle the archive did not know"),
    )
    reschedule_count = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The calls and messages about it (reminders; proactive care's call that booked it). The
    # outreach engine knows nothing of appointments: the link is kept here, one row per task.
    # `task.appointment_link.appointment` is a task's appointment; tasks filter by
    # `appointment=` through this table.
    call_tasks = models.ManyToManyField(
        "outreach.CallTask",
        through="AppointmentCallTask",
        related_name="appointment_set",
        related_query_name="appointment",
        blank=True,
    )

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["start", "id"]
        constraints = [
            # No double booking, ever: one active appointment per advisor and start time.
            models.UniqueConstraint(
                fields=["advisor", "start"],
                condition=models.Q(status__in=["booked", "confirmed", "arrived"]),
                name="appointment_no_double_booking",
                violation_error_message=_("This advisor already has an appointment at that time."),
            ),
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="appointment_end_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(estimated_hours__gte=0), name="appointment_hours_not_negative"
            ),
        ]
        indexes = [
            # a day's bookings by status (the day board, availability); the KPI month's show
            # rate and booked hours read channel and hours from the index alone
            models.Index(
                fields=["site", "day", "status"],
                include=["channel", "estimated_hours", "id"],
                name="appointment_site_day_idx",
            ),
            models.Index(fields=["site", "start"]),
            # is this advisor's time taken (booking, rescheduling): by advisor and start. The
            # unique constraint's index has these keys but leaves "rescheduling" out, so Postgres
            # cannot use it for the question and read all the advisor's appointments from the
            # advisor's index instead (3,300 rows, 6.5-11 ms of each booking at the group
            # dataset; docs/benchmarks.md)
            models.Index(
                fields=["advisor", "start"],
                condition=models.Q(status__in=[status.value for status in ACTIVE_STATUSES]),
                name="appointment_advisor_active_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} {self.vehicle}"


class AppointmentCallTask(models.Model):
    """The appointment a call task is about (at most one per task)."""

    task = models.OneToOneField(
        "outreach.CallTask",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="appointment_link",
    )
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="call_task_links"
    )

    class Meta:
        verbose_name = _("appointment's call task")
        verbose_name_plural = _("appointments' call tasks")

    def __str__(self) -> str:
        return f"{self.appointment_id} · {self.task_id}"


def appointment_of(task):
    """The appointment `task` is about, or None (reads the link; select_related
    `appointment_link__appointment` to avoid a query per task)."""
    link = getattr(task, "appointment_link", None)
    return link.appointment if link is not None else None


class DayCapacity(models.Model):
    """The row locked while booking a day, holding the day's booked hours.

    Booking locks this row (`SELECT … FOR UPDATE`), so parallel bookings of one site-day
    serialise and the booked hours can never pass the capacity without an override.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    booked_hours = models.DecimalField(max_digits=7, decimal_places=1, default=Decimal("0"))

    class Meta:
        verbose_name = _("day's booked hours")
        verbose_name_plural = _("days' booked hours")
        constraints = [models.UniqueConstraint(fields=["site", "day"], name="day_capacity_unique")]

    def __str__(self) -> str:
        return f"{self.site} {self.day} {self.booked_hours}h"


class ServiceOffering(models.Model):
    """A bookable service from the site's menu: its standard labour hours and the parts it uses.

    `parts` is a list of {"part_number", "name", "quantity"}; a booking copies them into
    PartReservation rows so the parts clerk can pick and reserve them the day before.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="service_offerings")
    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=120)
    standard_hours = models.DecimalField(
        _("standard labour hours"), max_digits=4, decimal_places=1, default=Decimal("1.0")
    )
    parts = models.JSONField(_("parts used"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("service offering")
        verbose_name_plural = _("service offerings")
        ordering = ["site", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "code"], name="service_offering_code_unique"),
            models.CheckConstraint(
                condition=models.Q(standard_hours__gte=0), name="service_offering_hours_not_neg"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PartReservation(models.Model):
    """One part a booked appointment needs; the parts clerk reserves it the day before."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="part_reservations"
    )
    part_number = models.CharField(_("part number"), max_length=40, blank=True)
    name = models.CharField(_("part"), max_length=120)
    quantity = models.DecimalField(
        _("quantity"), max_digits=8, decimal_places=2, default=Decimal("1")
    )
    reserved_at = models.DateTimeField(_("reserved at"), null=True, blank=True)
    reserved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("part reservation")
        verbose_name_plural = _("part reservations")
        ordering = ["appointment", "part_number", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="part_reservation_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.part_number} {self.name} × {self.quantity}"

    @property
    def is_reserved(self) -> bool:
        return self.reserved_at is not None
