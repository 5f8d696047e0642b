"""The upgrade that adds the stored next-service day fills it for the vehicles already there:
`migrate` applying customers 0007 computes it right after (post_migrate), no manual step."""

from datetime import date

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from customers.apps import SERVICE_DUE_MIGRATION, fill_service_due_after_upgrade
from customers.models import Vehicle
from customers.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


def _plan(*keys, backwards=False):
    graph = MigrationLoader(connection, ignore_no_migrations=True).graph
    return [(graph.nodes[key], backwards) for key in keys]


def test_applying_the_migration_fills_the_due_day_of_existing_vehicles():
    vehicle = VehicleFactory(purchase_date=date(2025, 1, 10), service_interval_months=12)
    Vehicle.objects.filter(pk=vehicle.pk).update(service_due_on=None)  # as after the AddField
    sender = apps.get_app_config("customers")

    # a run that did not apply it, or undid it, leaves the rows alone
    assert fill_service_due_after_upgrade(sender, plan=[]) == 0
    assert (
        fill_service_due_after_upgrade(sender, plan=_plan(SERVICE_DUE_MIGRATION, backwards=True))
        == 0
    )
    assert Vehicle.objects.get(pk=vehicle.pk).service_due_on is None

    # the run that applied it fills the day, as the nightly refresh would
    assert fill_service_due_after_upgrade(sender, plan=_plan(SERVICE_DUE_MIGRATION)) >= 1
    assert Vehicle.objects.get(pk=vehicle.pk).service_due_on is not None
