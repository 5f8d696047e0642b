"""The KPI dashboard's read model: a daily rollup of per-person numerators and denominators."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from dms.models import Site


class KpiDay(models.Model):
    """The KPI dashboard's daily rollup: for one site, one site-local day and one person (an
    advisor or a technician; 0 = nobody), the numerators and denominators of the per-day KPIs.

    Never ratios: any period is a SUM over its days. Written only by
    kpis.services.kpi_rollups_refresh, which recomputes whole days from the source rows."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    user_id = models.IntegerField(default=0)
    # repair orders opened that day (advisor)
    opened = models.IntegerField(default=0)
    from_appointment = models.IntegerField(default=0)
    # repair orders delivered that day (advisor)
    delivered = models.IntegerField(default=0)
    labour = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    parts = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    on_time = models.IntegerField(default=0)
    qc_done = models.IntegerField(default=0)
    qc_first_pass = models.IntegerField(default=0)
    came_back = models.IntegerField(default=0)
    followed_up = models.IntegerField(default=0)
    in_warranty = models.IntegerField(default=0)
    warranty_followed_up = models.IntegerField(default=0)
    sold_hours = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    part_lines = models.IntegerField(default=0)
    # additional work proposed on repair orders opened that day (advisor)
    add_proposed = models.IntegerField(default=0)
    add_approved = models.IntegerField(default=0)
    add_declined = models.IntegerField(default=0)
    add_proposed_amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    add_approved_amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    # of the declined, those done on a later visit of the car (as of the day's last refresh)
    add_declined_recovered = models.IntegerField(default=0)
    # follow-up calls completed that day (advisor of the repair order)
    reached = models.IntegerField(default=0)
    satisfied = models.IntegerField(default=0)
    # jobs signed off that day, and hours clocked from entries started that day (technician)
    jobs_finished = models.IntegerField(default=0)
    jobs_sold_hours = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    jobs_clocked_seconds = models.FloatField(default=0)
    # of those, signed off with implausibly little clocked time (the dashboard's records flag)
    jobs_implausible = models.IntegerField(default=0)
    clocked_seconds = models.FloatField(default=0)

    class Meta:
        db_table = "dms_kpiday"  # the table predates the kpis app (moved out of dms)
        verbose_name = _("KPI day")
        verbose_name_plural = _("KPI days")
        constraints = [
            models.UniqueConstraint(fields=["site", "day", "user_id"], name="kpi_day_once")
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.day} {self.user_id}"


class KpiRollupState(models.Model):
    """Which days of a site the rollup holds: every day from `built_from` to `built_through`
    (both inclusive, site-local), and when it was last refreshed."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, primary_key=True, related_name="+")
    built_from = models.DateField()
    built_through = models.DateField()
    refreshed_at = models.DateTimeField()

    class Meta:
        db_table = "dms_kpirollupstate"
        verbose_name = _("KPI rollup state")
        verbose_name_plural = _("KPI rollup states")

    def __str__(self) -> str:
        return f"{self.site_id}: {self.built_from} … {self.built_through}"
