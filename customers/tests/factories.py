import factory

from customers.models import Customer, Vehicle
from dms.tests.factories import SiteFactory

# Valid VINs (check digit correct) are produced by customers.validators.vin_with_check_digit
# once it exists; these factories build them inline so tests never depend on demo data.
_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def make_vin(n: int) -> str:
    """A 17-character VIN with a correct check digit, unique per n."""
    body = f"LSVAB2{n:011d}"[:17]
    body = body[:8] + "0" + body[9:]
    total = sum(_VIN_VALUES[c] * w for c, w in zip(body, _VIN_WEIGHTS, strict=True))
    check = total % 11
    return body[:8] + ("X" if check == 10 else str(check)) + body[9:]


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"王{n}")
    title = Customer.Title.MR
    phone = factory.Sequence(lambda n: f"+86138{n:08d}")


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    site = factory.SelfAttribute("owner.site")
    owner = factory.SubFactory(CustomerFactory)
    vin = factory.Sequence(make_vin)
    plate = factory.Sequence(lambda n: f"沪A{n:05d}")
    make = "Volkswagen"
    model = "Lavida"
    year = 2022
    mileage_km = 20000

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Stored as the archive's services store a vehicle: with the estimates of its next
        service (`customers.service_due`). A test that writes its history (repair orders,
        readings) directly calls `services.vehicle_estimates_update` after it."""
        from customers.services import vehicle_estimates_update

        return vehicle_estimates_update(vehicle=super()._create(model_class, *args, **kwargs))
