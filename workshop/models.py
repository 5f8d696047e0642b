"""The workshop: bays and the technicians' job clock."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from dms.models import Site
from workorders.models import JobLine


class Bay(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="bays")
    code = models.CharField(_("bay"), max_length=20)
    has_lift = models.BooleanField(_("has a lift"), default=True)

    class Meta:
        verbose_name = _("bay")
        verbose_name_plural = _("bays")
        ordering = ["site", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="bay_code_unique")]

    def __str__(self) -> str:
        return self.code


class ClockEntry(models.Model):
    """A technician on a job from `started_at` until `ended_at` (open while null)."""

    job = models.ForeignKey(JobLine, on_delete=models.CASCADE, related_name="clock_entries")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="clock_entries"
    )
    started_at = models.DateTimeField(_("clocked on"))
    ended_at = models.DateTimeField(_("clocked off"), null=True, blank=True)

    class Meta:
        verbose_name = _("clock entry")
        verbose_name_plural = _("clock entries")
        ordering = ["-started_at"]
        constraints = [
            # One job at a time per technician.
            models.UniqueConstraint(
                fields=["technician"],
                condition=models.Q(ended_at__isnull=True),
                name="one_open_clock_per_technician",
                violation_error_message=_("This technician is already clocked on another job."),
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="clock_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.technician} on {self.job_id} from {self.started_at:%H:%M}"
