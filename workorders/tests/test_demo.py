"""The demo repair orders: every state, a rework, a working approval link, next service dates."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from workorders.models import ApprovalLink, RepairOrder, ROStatus

pytestmark = pytest.mark.django_db


def test_demo_has_every_state_and_a_working_approval_link():
    call_command("load_demo", verbosity=0)
    ros = RepairOrder.objects.exclude(number__startswith="H-")
    assert set(ROStatus.values) <= set(ros.values_list("status", flat=True))
    rework = ros.get(status=ROStatus.REWORK)
    assert rework.qc_fail_count == 1
    assert rework.qc_fail_reason
    delivered = ros.filter(status=ROStatus.DELIVERED, vehicle__vin__startswith="LSVDM")
    assert delivered.count() == 2
    assert all(r.next_service_due_date and r.next_service_due_km for r in delivered)
    assert ros.filter(comeback_of__in=delivered, comeback_confirmed=None).exists()
    link = ApprovalLink.objects.get(
        repair_order__status=ROStatus.WAITING_APPROVAL, expires_at__gt=timezone.now()
    )
    page = Client().get(reverse("workorders:approval_link", args=[link.token]))
    assert page.status_code == 200
    assert "更换刹车油" in page.content.decode()
