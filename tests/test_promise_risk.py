"""One rule of whether a car will be ready by the promised time (`workorders.promise`): the
repair order list and page (the advisor) flag the same cars as the workshop board (the
dispatcher). Before, the RO screens flagged any car promised within the hour, the board the cars
whose remaining work exceeds the time left: a car in QC due in 30 minutes was "late risk" on the
RO list and on time on the board, one with 4 hours of work due in 3 hours the other way round."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from workorders.models import RepairOrder
from workorders.tests.factories import ro_in_state, staff_for
from workshop.selectors import board_columns

pytestmark = pytest.mark.django_db


def _promise(ro, delta):
    RepairOrder.objects.filter(pk=ro.pk).update(promised_at=timezone.now() + delta)


def _board_risk(site) -> dict[int, str]:
    return {card["id"]: card["risk"] for col in board_columns(site=site) for card in col["cards"]}


def _list_badges(client, site) -> dict[str, str]:
    html = client.get("/ro/", HTTP_X_SITE=str(site.pk)).content.decode()
    badges = {}
    for row in re.findall(r"<tr.*?</tr>", html, flags=re.S):
        number = re.search(r"RO-\d{4}-\d+", row)
        badge = re.search(r'class="badge (bad|warn)">([^<]+)<', row)
        if number:
            badges[number.group()] = badge.group(1) if badge else ""
    return badges


def test_the_ro_list_and_page_flag_the_same_cars_as_the_board(client, site):
    staff = staff_for(site)
    # 4 hours of work left, promised in 3 hours: at risk
    busy = ro_in_state("in_progress", site=site, staff=staff, hours="4.0")
    _promise(busy, timedelta(hours=3))
    # in QC (no work left), promised in 30 minutes: on time
    checking = ro_in_state("qc", site=site, staff=staff)
    _promise(checking, timedelta(minutes=30))
    # promised an hour ago, still being worked on: late
    overdue = ro_in_state("in_progress", site=site, staff=staff)
    _promise(overdue, timedelta(hours=-1))

    board = _board_risk(site)
    assert (board[busy.pk], board[checking.pk], board[overdue.pk]) == ("at_risk", "ok", "late")

    client.force_login(staff["advisor"])
    badges = _list_badges(client, site)
    assert (badges[busy.number], badges[checking.number], badges[overdue.number]) == (
        "warn",
        "",
        "bad",
    )
    page = client.get(f"/ro/{busy.pk}/", HTTP_X_SITE=str(site.pk)).content.decode()
    assert 'class="badge warn"' in page
    page = client.get(f"/ro/{checking.pk}/", HTTP_X_SITE=str(site.pk)).content.decode()
    assert 'class="badge warn"' not in page
    assert 'class="badge bad"' not in page
