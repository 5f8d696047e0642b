"""The nightly Celery task and parallel runs: a second run creates nothing new."""

import threading
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from care import tasks
from care.selectors import care_outcomes
from care.services import run_reminder_rules
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.tests.factories import SiteFactory
from outreach.models import CallTask, TaskKind


@pytest.mark.django_db
def test_nightly_task_runs_every_site_once(site):
    other = SiteFactory()
    today = timezone.localdate()
    for s in (site, other):
        VehicleFactory(
            owner=CustomerFactory(site=s), insurance_renewal_date=today + timedelta(days=30)
        )
    first = tasks.run_reminder_rules.apply().get()
    second = tasks.run_reminder_rules.apply().get()
    assert first == {site.pk: 1, other.pk: 1}
    assert second == {site.pk: 0, other.pk: 0}
    assert CallTask.objects.filter(kind=TaskKind.INSURANCE_RENEWAL).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_runs_create_each_task_once(site):
    day = date(2026, 6, 15)
    for _ in range(6):
        VehicleFactory(
            owner=CustomerFactory(site=site), insurance_renewal_date=day + timedelta(days=30)
        )
    errors = []

    def worker():
        try:
            run_reminder_rules(site=site, today=day)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert CallTask.objects.filter(kind=TaskKind.INSURANCE_RENEWAL).count() == 6
    assert CallTask.objects.values("customer").distinct().count() == 6


@pytest.mark.django_db
def test_outcomes_count_reminders_and_bookings(site):
    day = date(2026, 6, 15)
    VehicleFactory(owner=CustomerFactory(site=site), insurance_renewal_date=day + timedelta(30))
    run_reminder_rules(site=site, today=day)
    out = care_outcomes(site_ids=[site.pk], start=day, end=day)
    assert out["insurance_renewal"] == {"reminders": 1, "booked": 0}
    assert out["declined_work"] == {"reminders": 0, "booked": 0}
