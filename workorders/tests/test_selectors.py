"""Reads: the list and detail use a fixed number of queries whatever the number of rows."""

import pytest
from django.test import Client
from django.urls import reverse

from customers.tests.factories import VehicleFactory
from workorders import selectors
from workorders.models import ROStatus as S
from workorders.tests.factories import ro_in_state, staff_for

pytestmark = pytest.mark.django_db


def _many(n: int):
    first = ro_in_state(S.IN_PROGRESS)
    staff = {
        "advisor": first.advisor,
        **{k: v for k, v in staff_for(first.site).items() if k != "advisor"},
    }
    for _ in range(n - 1):
        ro_in_state(S.IN_PROGRESS, vehicle=VehicleFactory(owner__site=first.site), staff=staff)
    return first


def test_list_page_queries_do_not_grow_with_rows(django_assert_max_num_queries):
    ro = _many(3)
    client = Client()
    client.force_login(ro.advisor)
    url = reverse("workorders:list")
    with django_assert_max_num_queries(12):
        r = client.get(url)
    assert r.content.decode().count("/ro/") >= 3
    _many(1)  # another site: not shown
    for _ in range(4):
        ro_in_state(S.IN_PROGRESS, vehicle=VehicleFactory(owner__site=ro.site))
    with django_assert_max_num_queries(12):
        r = client.get(url)
    assert r.content.decode().count('class="plate"') == 7


def test_detail_and_settlement_queries_are_bounded(django_assert_max_num_queries):
    from workorders.tests.factories import JobLineFactory, PartLineFactory

    ro = ro_in_state(S.READY)
    with django_assert_max_num_queries(12):
        loaded = selectors.repair_order_get(user=ro.advisor, pk=ro.pk)
        settle = selectors.settlement(loaded)
    assert settle.grand_total == loaded.grand_total
    assert [s.job.description for s in settle.lines] == ["Replace front brake pads"]
    for _ in range(5):
        PartLineFactory(job=JobLineFactory(repair_order=ro))
    with django_assert_max_num_queries(12):
        settle = selectors.settlement(selectors.repair_order_get(user=ro.advisor, pk=ro.pk))
    assert len(settle.lines) == 6


def test_approvals_pending_and_declined_lines():
    waiting = ro_in_state(S.WAITING_APPROVAL)
    assert list(selectors.approvals_pending(site=waiting.site)) == [waiting]
    proposed = waiting.lines.get(approval="proposed")
    from workorders import services

    services.ro_answer_approval(
        repair_order_id=waiting.pk,
        actor=waiting.advisor,
        channel="phone",
        answers=[{"job_id": proposed.pk, "decision": "declined", "reason": "Too expensive"}],
    )
    assert list(selectors.approvals_pending(site=waiting.site)) == []
    declined = list(selectors.declined_lines_for_vehicle(vehicle=waiting.vehicle))
    assert [(d.description, d.declined_reason) for d in declined] == [
        ("Replace brake fluid", "Too expensive")
    ]
