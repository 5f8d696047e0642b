"""A new car's first service falls due by its site's first-service rule, registered by proactive
care (`customers.service_due.register_first_service_rule`); without one, or for a missing
figure, 3 months or 5,000 km after the purchase."""

from datetime import date

import pytest

from customers import service_due
from customers.models import Vehicle
from customers.service_due import FirstServiceRule, first_service_rule
from customers.tasks import refresh_service_due
from customers.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(monkeypatch):
    """`registered({site_id: (months, km)})`: the first-service rules the archive is told of."""

    def _register(figures: dict | None):
        rules: dict = {}
        monkeypatch.setattr(service_due, "_first_service_rules", rules)
        asked = []
        if figures is not None:

            def provider(site_id):
                asked.append(site_id)
                return figures.get(site_id)

            service_due.register_first_service_rule(provider)
        return asked

    return _register


def _new_car(site, **fields):
    return VehicleFactory(
        owner__site=site, sold_by_site=True, purchase_date=date(2026, 3, 5), **fields
    )


def test_without_a_registered_rule_the_first_service_is_due_by_the_defaults(site, registered):
    registered(None)
    assert first_service_rule(site.pk) == FirstServiceRule(months=3, km=5000)
    assert _new_car(site).service_due_on == date(2026, 6, 5)


def test_a_site_without_figures_or_missing_one_falls_back_to_the_defaults(site, registered):
    registered({site.pk: (2, None)})
    assert first_service_rule(site.pk) == FirstServiceRule(months=2, km=5000)
    assert first_service_rule(site.pk + 1) == FirstServiceRule(months=3, km=5000)


def test_the_stored_due_day_follows_the_site_rule(site, registered):
    registered({site.pk: (2, 3000)})
    assert _new_car(site).service_due_on == date(2026, 5, 5)  # 2 months, before 3,000 km
    # 2,400 km in 30 days: 80 km a day, 3,000 km on 12 April
    car = _new_car(site, mileage_km=2400, mileage_read_at=date(2026, 4, 4))
    assert car.service_due_on == date(2026, 4, 12)


def test_refreshing_a_site_reads_its_rule_once(site, registered):
    cars = [_new_car(site) for _n in range(3)]
    asked = registered({site.pk: (4, 20000)})
    assert refresh_service_due(site.pk) == 3
    assert asked == [site.pk]
    assert {v.service_due_on for v in Vehicle.objects.filter(pk__in=[c.pk for c in cars])} == {
        date(2026, 7, 5)
    }
    assert refresh_service_due(0) == 0  # a site gone meanwhile
