import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

log = logging.getLogger(__name__)

# The migrations that add a stored day of the service rule (the next service; a new car's first
# service): when `migrate` applies one to a database that already has vehicles, their days are
# computed right after (else the due lists, the KPI tile and the first-service capture would stay
# empty until the nightly refresh).
SERVICE_DUE_MIGRATIONS = {
    ("customers", "0007_vehicle_service_due_on"),
    ("customers", "0011_vehicle_first_service_due_on"),
}


def fill_service_due_after_upgrade(sender, plan=None, using="default", **kwargs) -> int:
    """post_migrate: after a `migrate` that applied one of SERVICE_DUE_MIGRATIONS, the stored estimates
    of every site's vehicles (`services.vehicle_estimates_refresh`). Returns how many vehicles
    were looked at (0 when the migration was not in this run or there are no vehicles)."""
    applied = {(m.app_label, m.name) for m, backwards in (plan or []) if not backwards}
    if not SERVICE_DUE_MIGRATIONS & applied or using != "default":
        return 0
    from dms.models import Site

    from . import services
    from .models import Vehicle

    if not Vehicle.objects.exists():
        return 0
    looked_at = 0
    try:
        for site in Site.objects.order_by("pk"):
            looked_at += services.vehicle_estimates_refresh(site=site)
    except Exception:  # never fail the upgrade for it: the nightly refresh catches up
        log.exception(
            "Could not fill the vehicles' next-service day after migrating; run "
            "customers.tasks.recompute_segments once (docs/deployment.md)"
        )
    return looked_at


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers and vehicles")

    def ready(self) -> None:
        post_migrate.connect(fill_service_due_after_upgrade, sender=self)
