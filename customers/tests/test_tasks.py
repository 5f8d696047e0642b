from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Customer
from customers.service_due import add_months
from customers.tasks import recompute_segments
from customers.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


def test_nightly_segmentation_then_second_run_changes_nothing(site):
    from workorders.tests.factories import RepairOrderFactory

    delivered = timezone.now() - timedelta(days=100)
    vehicle = VehicleFactory(
        owner__site=site,
        next_service_due_km=30000,
        mileage_km=20000,
        mileage_read_at=timezone.localdate(delivered),
    )
    RepairOrderFactory(
        vehicle=vehicle,
        status="delivered",
        delivered_at=delivered,
        delivered_day=timezone.localdate(delivered),
        grand_total=Decimal("800"),
    )
    first = recompute_segments(site.pk)
    customer = Customer.objects.get(pk=vehicle.owner_id)
    assert (customer.retention, customer.abc_class) == ("at_risk", "A")  # the only spender
    vehicle.refresh_from_db()
    assert vehicle.km_due_on is not None  # service km date estimated for the due list
    # the delivery was written directly: the nightly run counts the next service from it
    assert vehicle.service_due_on == add_months(timezone.localdate(delivered), 6)
    assert first[site.code]["customers_changed"] == 1
    assert recompute_segments(site.pk)[site.code]["customers_changed"] == 0
