from datetime import timedelta

import pytest
from django.utils import timezone

from appointments.models import Appointment, AppointmentStatus
from appointments.tasks import mark_no_shows

pytestmark = pytest.mark.django_db


def test_mark_no_shows_task_marks_once(site, advisor, vehicle):
    # given an appointment whose slot ended more than the grace period ago
    start = timezone.now() - timedelta(minutes=site.no_show_grace_minutes + 20)
    appointment = Appointment.objects.create(
        site=site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        start=start,
        end=start + timedelta(minutes=15),
        day=timezone.localdate(start, site.tzinfo),
    )
    assert mark_no_shows.apply().get() == 1
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NO_SHOW
    # a second run is a no-op
    assert mark_no_shows.apply().get() == 0
