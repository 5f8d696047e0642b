"""The upgrades that add a stored day of the service rule fill it for the vehicles already there:
`migrate` applying customers 0007 (next service) or 0011 (first service) computes them right
after (post_migrate), no manual step."""

from datetime import date

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from customers.apps import SERVICE_DUE_MIGRATIONS, fill_service_due_after_upgrade
from customers.models import Vehicle
from customers.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


def _plan(*keys, backwards=False):
    graph = MigrationLoader(connection, ignore_no_migrations=True).graph
    return [(graph.nodes[key], backwards) for key in keys]


@pytest.mark.parametrize("migration", sorted(SERVICE_DUE_MIGRATIONS))
def test_applying_the_migration_fills_the_due_days_of_existing_vehicles(migration):
    vehicle = VehicleFactory(
        purchase_date=date(2025, 1, 10), service_interval_months=12, sold_by_site=True
    )
    # as after the AddField
    Vehicle.objects.filter(pk=vehicle.pk).update(service_due_on=None, first_service_due_on=None)
    sender = apps.get_app_config("customers")

    # a run that did not apply it, or undid it, leaves the rows alone
    assert fill_service_due_after_upgrade(sender, plan=[]) == 0
    assert fill_service_due_after_upgrade(sender, plan=_plan(migration, backwards=True)) == 0
    assert Vehicle.objects.get(pk=vehicle.pk).service_due_on is None

    # the run that applied it fills the days, as the nightly refresh would
    assert fill_service_due_after_upgrade(sender, plan=_plan(migration)) >= 1
    filled = Vehicle.objects.get(pk=vehicle.pk)
    assert filled.service_due_on is not None
    assert filled.first_service_due_on is not None
