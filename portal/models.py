"""The customer's own links and one-time codes. Tokens and codes are stored only as hashes."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from appointments.models import Appointment
from dms.models import Site
from workorders.models import RepairOrder


class CustomerLink(models.Model):
    """An unguessable, expiring link a customer opens without logging in.

    The token is an HMAC of the row's random nonce under the server's secret; the table holds
    only its SHA-256, so a copy of the database alone opens nothing, while the advisor can still
    be shown the link of an RO."""

    class Purpose(models.TextChoices):
        STATUS = "status", _("Live status of the car")
        BOOKING = "booking", _("Online booking (reschedule or cancel)")
        SURVEY = "survey", _("Follow-up survey")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(_("purpose"), max_length=8, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    nonce = models.CharField(max_length=32)
    repair_order = models.ForeignKey(
        RepairOrder, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    call_task_id = models.BigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_to = models.CharField(_("sent to"), max_length=254, blank=True)

    class Meta:
        verbose_name = _("customer link")
        verbose_name_plural = _("customer links")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["repair_order", "purpose"]),
            models.Index(fields=["appointment", "purpose"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} · {self.expires_at:%Y-%m-%d}"


class OneTimeCode(models.Model):
    """A code sent to a mobile number to prove the booking customer holds it. Hashed, expiring
    after CODE_MINUTES, a few attempts only, used once; the booking waits in `pending` and
    takes no slot until the code is confirmed."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(_("mobile"), max_length=20)
    plate = models.CharField(_("plate"), max_length=10)
    request_key = models.CharField(max_length=64, unique=True)
    code_hash = models.CharField(max_length=64)
    pending = models.JSONField(default=dict, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")
        indexes = [
            models.Index(fields=["site", "phone", "created_at"]),
            models.Index(fields=["address", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.created_at:%Y-%m-%d %H:%M}"
