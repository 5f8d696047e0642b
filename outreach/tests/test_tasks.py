"""The Celery tasks are thin and a second run changes nothing."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from dms.models import OpeningHours
from dms.tests.factories import SiteFactory
from outreach.models import CallTask, TaskKind, TaskStatus
from outreach.tasks import dispatch_task, sweep_due_tasks

pytestmark = pytest.mark.django_db


def test_sweep_then_dispatch_twice_opens_the_call_once():
    # a site that calls around the clock, so the real clock is always inside calling hours
    site = SiteFactory(hours=[], calling_hours_start=time(0, 0), calling_hours_end=time(23, 59))
    for weekday in range(7):
        OpeningHours.objects.create(
            site=site, weekday=weekday, opens=time(0, 0), closes=time(23, 59)
        )
    now = timezone.now()
    task = CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="t:1",
        customer=CustomerFactory(site=site),
        due_at=now - timedelta(minutes=5),
        due_until=now + timedelta(days=1),
    )
    assert sweep_due_tasks()["claimed"] == 1
    assert sweep_due_tasks()["claimed"] == 0
    assert dispatch_task(task.pk) == "opened"
    assert dispatch_task(task.pk) == "skipped"
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
