from decimal import Decimal

import factory
from django.utils import timezone

from customers.tests.factories import VehicleFactory
from dms.models import Role
from dms.tests.factories import make_staff
from workorders.models import JobLine, PartLine, RepairOrder


class RepairOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RepairOrder

    vehicle = factory.SubFactory(VehicleFactory)
    site = factory.SelfAttribute("vehicle.site")
    customer = factory.SelfAttribute("vehicle.owner")
    advisor = factory.LazyAttribute(lambda o: make_staff(role=Role.ADVISOR, site=o.site))
    number = factory.Sequence(lambda n: f"RO-2026-{n:06d}")
    opened_day = factory.LazyFunction(timezone.localdate)


class JobLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobLine

    repair_order = factory.SubFactory(RepairOrderFactory)
    description = factory.Sequence(lambda n: f"Operation {n}")
    standard_hours = Decimal("1.00")
    labour_rate = factory.LazyAttribute(lambda o: o.repair_order.site.labour_rate)
    labour_amount = factory.LazyAttribute(
        lambda o: (o.standard_hours * o.labour_rate).quantize(Decimal("0.01"))
    )


class PartLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartLine

    job = factory.SubFactory(JobLineFactory)
    name = "Oil filter"
    quantity = Decimal("1")
    unit_price = Decimal("85.00")
