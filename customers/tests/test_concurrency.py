import threading

import pytest
from django.db import connection

from customers import services
from customers.models import Vehicle
from customers.tests.factories import CustomerFactory, make_vin
from dms.exceptions import ApplicationError
from dms.tests.factories import SiteFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_desks_registering_the_same_vin_at_once_one_wins_the_other_gets_a_message():
    site = SiteFactory()
    owners = [CustomerFactory(site=site), CustomerFactory(site=site)]
    vin = make_vin(31337)
    barrier = threading.Barrier(len(owners))
    outcomes: list = []

    def register(owner):
        try:
            barrier.wait()
            services.vehicle_create(site=site, owner=owner, actor=None, vin=vin, plate="")
            outcomes.append("created")
        except ApplicationError as exc:
            outcomes.append(exc.fields.get("vin", [exc.message])[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Vehicle.objects.filter(vin=vin).count() == 1
    assert sorted(outcomes)[-1] == "created"
    loser = sorted(outcomes)[0]
    assert "VIN" in loser
    assert "already on" in loser
