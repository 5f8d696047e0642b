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
    """A technician on a job from `started_at` until `ended_at` (open while null).

    `site` is the job's repair order's site, copied when the entry is made (a repair order never
    changes site): the KPIs read a site's hours clocked in a period as one range of the
    (site, started_at) index. Through the job and the RO, a site's day read every site's
    entries of the day and looked up each one's site (docs/benchmarks.md)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+", editable=False)
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
        indexes = [
            models.Index(fields=["technician", "started_at"], name="clock_entry_tech_started_idx"),
            # "hours clocked in a period" (KPI technician productivity): all sites, and one site
            models.Index(fields=["started_at"], name="clock_entry_started_idx"),
            models.Index(fields=["site", "started_at"], name="clock_entry_site_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.technician} on {self.job_id} from {self.started_at:%H:%M}"

    def save(self, *args, **kwargs):
        if self.site_id is None and self.job_id is not None:
            self.site_id = (
                JobLine.objects.filter(pk=self.job_id)
                .values_list("repair_order__site_id", flat=True)
                .first()
            )
        super().save(*args, **kwargs)


class PartsRequest(models.Model):
    """A technician's job stopped for a part: what is missing and when it is expected."""

    job = models.ForeignKey(JobLine, on_delete=models.CASCADE, related_name="parts_requests")
    part = models.CharField(_("part"), max_length=120)
    expected_date = models.DateField(_("expected"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested"))
    arrived_at = models.DateTimeField(_("arrived"), null=True, blank=True)

    class Meta:
        verbose_name = _("parts request")
        verbose_name_plural = _("parts requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            # One open request per job: the job is waiting for parts until it is resolved.
            models.UniqueConstraint(
                fields=["job"],
                condition=models.Q(arrived_at__isnull=True),
                name="one_open_parts_request_per_job",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.part} ({self.expected_date:%Y-%m-%d})"


class JobSignOff(models.Model):
    """The technician's self-check and signature when a job is finished (seed 001).

    A job signed off and then reworked after a failed QC is signed again: one row per signing.
    """

    job = models.ForeignKey(JobLine, on_delete=models.CASCADE, related_name="sign_offs")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    self_check = models.JSONField(_("self-check"), default=dict)
    report = models.TextField(_("work report"), blank=True)
    signed_at = models.DateTimeField(_("signed"))

    class Meta:
        verbose_name = _("job sign-off")
        verbose_name_plural = _("job sign-offs")
        ordering = ["-signed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.job_id} signed {self.signed_at:%Y-%m-%d %H:%M}"


class QCInspection(models.Model):
    """One road test and final inspection of a repair order, passed or failed."""

    repair_order = models.ForeignKey(
        "workorders.RepairOrder", on_delete=models.CASCADE, related_name="qc_inspections"
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    passed = models.BooleanField(_("passed"))
    checklist = models.JSONField(_("checklist"), default=dict)
    reason = models.TextField(_("reason for failing"), blank=True)
    inspected_at = models.DateTimeField(_("inspected"))

    class Meta:
        verbose_name = _("QC inspection")
        verbose_name_plural = _("QC inspections")
        ordering = ["-inspected_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(passed=True) | ~models.Q(reason=""),
                name="qc_fail_has_reason",
                violation_error_message=_("A failed inspection needs a reason."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repair_order_id} {'pass' if self.passed else 'fail'}"
