from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dms.models import Role
from tests.conftest import celery_worker, use_broker  # noqa: F401 - the worker and broker fixtures
from workorders.models import ROStatus
from workorders.tests.factories import JobLineFactory, RepairOrderFactory


@pytest.fixture
def tech(make_user):
    return make_user(Role.TECHNICIAN)


@pytest.fixture
def make_job(site):
    """`make_job(status=..., technician=..., **job_fields)` → a job line on a new RO at `site`."""

    def _make(status=ROStatus.IN_PROGRESS, technician=None, promised_in_hours=None, **fields):
        from customers.tests.factories import CustomerFactory, VehicleFactory

        vehicle = VehicleFactory(owner=CustomerFactory(site=site))
        ro = RepairOrderFactory(
            vehicle=vehicle,
            status=status,
            promised_at=(
                timezone.now() + timedelta(hours=promised_in_hours)
                if promised_in_hours is not None
                else None
            ),
        )
        fields.setdefault("standard_hours", Decimal("1.00"))
        return JobLineFactory(repair_order=ro, technician=technician, **fields)

    return _make
