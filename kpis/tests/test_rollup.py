"""The daily rollup gives exactly the figures the live computation gives — right after a
rebuild, and again after closed days changed late and the periodic refresh ran."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers.tests.factories import CustomerFactory, VehicleFactory
from kpis import selectors, services
from kpis.models import KpiDay, KpiRollupState
from kpis.tests import scenario
from outreach.models import CallOutcome, TaskKind, TaskStatus
from workorders.models import JobLine, ROStatus
from workorders.tests.factories import JobLineFactory, RepairOrderFactory, call_task_create

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

local = scenario.local
# a window around the hand-computed week, and the two weeks after it (all closed days)
PERIODS = [
    (scenario.START, scenario.END),
    (dt.date(2026, 2, 20), dt.date(2026, 3, 19)),
    (dt.date(2026, 3, 4), dt.date(2026, 3, 4)),
    (dt.date(2026, 3, 1), scenario.TODAY),  # ends today: today is live
]


def both(site, start, end):
    """The figures of a period from the rollup (where it holds the days) and all live."""
    scope = selectors.make_scope(site_ids=[site.pk], start=start, end=end, today=scenario.TODAY)
    rolled = selectors.compute_for_scope(scope, detail=True)
    live = selectors.compute_for_scope(scope, detail=True, use_rollup=False)
    return rolled, live


DETAIL_ONLY = ("advisors", "technicians", "trend")


def assert_rollup_equals_live(site_or_ids):
    """Every period's figures alike from the rollup and live, with the tables and trend
    (`detail`) and for the tiles alone (which sum the rolled-up days in the database)."""
    ids = site_or_ids if isinstance(site_or_ids, list) else [site_or_ids.pk]
    for start, end in PERIODS:
        scope = selectors.make_scope(site_ids=ids, start=start, end=end, today=scenario.TODAY)
        rolled = selectors.compute_for_scope(scope, detail=True)
        live = selectors.compute_for_scope(scope, detail=True, use_rollup=False)
        assert rolled == live, (start, end)
        tiles = {k: v for k, v in rolled.items() if k not in DETAIL_ONLY}
        assert selectors.compute_for_scope(scope) == tiles, (start, end)
        assert selectors.compute_for_scope(scope, use_rollup=False) == tiles, (start, end)


@pytest.fixture
def world():
    w = scenario.build()
    services.kpi_rollups_rebuild(
        site_ids=[w["site"].pk], since=dt.date(2026, 1, 1), today=scenario.TODAY
    )
    return w


def test_rebuilt_rollup_holds_the_closed_days_and_gives_the_live_figures(world):
    site = world["site"]
    # then the rollup holds every closed day up to yesterday, and has rows for the week
    state = KpiRollupState.objects.get(site=site)
    assert (state.built_from, state.built_through) == (dt.date(2026, 1, 1), dt.date(2026, 3, 19))
    scope = selectors.make_scope(
        site_ids=[site.pk], start=scenario.START, end=scenario.END, today=scenario.TODAY
    )
    assert selectors.rollup_span(scope) == (scenario.START, scenario.END)
    assert KpiDay.objects.filter(site=site, day__range=(scenario.START, scenario.END)).exists()
    # and the dashboard's figures from it are the hand-computed ones and the live ones
    rolled = both(site, scenario.START, scenario.END)[0]
    for key, expected in scenario.EXPECTED.items():
        assert rolled[key] == expected, key
    assert_rollup_equals_live(site)


def test_late_changes_to_closed_days_are_picked_up_by_the_periodic_refresh(world):
    site, a1, r1, r6 = world["site"], world["a1"], world["r1"], world["r6"]
    # given a car delivered on the 16th whose follow-up call is still open
    v = VehicleFactory(owner=r1.customer, site=site)
    late = RepairOrderFactory(
        vehicle=v,
        advisor=a1,
        opened_day=dt.date(2026, 3, 16),
        status=ROStatus.DELIVERED,
        delivered_day=dt.date(2026, 3, 16),
        delivered_at=local(3, 16, 17),
        promised_at=local(3, 16, 18),
        labour_total=Decimal("270"),
    )
    JobLineFactory(repair_order=late, standard_hours=Decimal("1.5"), labour_amount=Decimal("270"))
    call = call_task_create(
        site=site,
        kind=TaskKind.FOLLOWUP,
        source_key=f"ro:{late.pk}",
        customer=late.customer,
        vehicle=v,
        repair_order=late,
        due_at=local(3, 18, 9),
        due_until=local(3, 21, 20),
        status=TaskStatus.SCHEDULED,
    )
    services.kpi_rollups_refresh(site_ids=[site.pk], days=7, today=dt.date(2026, 3, 19))
    assert_rollup_equals_live(site)
    before = both(site, dt.date(2026, 3, 16), dt.date(2026, 3, 16))[0]
    assert before["followup_rate"] == 0.0

    # when, days later: the follow-up call is completed (satisfied), the car of the 2nd comes
    # back (a comeback RO opened on the 19th), and the car of R6 is cancelled after the fact
    call.status = TaskStatus.DONE
    call.outcome = CallOutcome.REACHED
    call.satisfaction = 5
    call.completed_at = local(3, 19, 10)
    call.save()
    RepairOrderFactory(
        vehicle=r1.vehicle,
        advisor=a1,
        opened_day=dt.date(2026, 3, 19),
        comeback_of=r1,
        comeback_confirmed=True,
    )
    r6.status = ROStatus.CANCELLED
    r6.save()
    # and the customer who declined the brake fluid on the 2nd's visit approves it after all
    l4 = world["l4"]
    l4.approval = JobLine.Approval.APPROVED
    l4.save()
    # and the periodic refresh runs (the hourly trailing window covers the 2nd)
    services.kpi_rollups_refresh(site_ids=[site.pk], days=35, today=scenario.TODAY)

    # then every period's figures from the rollup equal the live ones again
    assert_rollup_equals_live(site)
    after = both(site, dt.date(2026, 3, 16), dt.date(2026, 3, 16))[0]
    assert after["followup_rate"] == 1.0
    week = both(site, scenario.START, scenario.END)[0]
    assert week["comeback_rate"] == 0.6667  # R1 and R3 came back ÷ R1 R2 R3 (R6 cancelled)
    assert week["ro_delivered"] == 3
    assert week["additional_lines_approved"] == 2
    assert week["declined_work_recovered"] == 0


def test_declined_work_done_on_a_later_visit_follows_that_visit_at_the_refresh(world):
    site, r8 = world["site"], world["r8"]
    # given the week's declined brake fluid, done on R8 the day after the week
    week = (scenario.START, scenario.END)
    assert both(site, *week)[0]["declined_work_recovered"] == 1
    # when R8 is cancelled after the week was rolled up
    r8.status = ROStatus.CANCELLED
    r8.save(update_fields=["status"])
    # then the live figure drops at once, and the rolled-up one at the periodic refresh
    assert both(site, *week)[1]["declined_work_recovered"] == 0
    services.kpi_rollups_refresh(site_ids=[site.pk], days=35, today=scenario.TODAY)
    assert both(site, *week)[0]["declined_work_recovered"] == 0
    assert_rollup_equals_live(site)


def test_a_period_partly_before_the_rollup_is_computed_live_for_those_days(world):
    site = world["site"]
    # given a rollup that only holds the days from the 5th
    services.kpi_rollups_rebuild(
        site_ids=[site.pk], since=dt.date(2026, 3, 5), today=scenario.TODAY
    )
    scope = selectors.make_scope(
        site_ids=[site.pk], start=scenario.START, end=scenario.END, today=scenario.TODAY
    )
    assert selectors.rollup_span(scope) == (dt.date(2026, 3, 5), scenario.END)
    # then the week still has its hand-computed figures (2nd–4th live, 5th–8th rolled up)
    rolled, live = both(site, scenario.START, scenario.END)
    assert rolled == live
    for key, expected in scenario.EXPECTED.items():
        assert rolled[key] == expected, key


def test_refresh_twice_changes_nothing(world):
    site = world["site"]
    rows = list(KpiDay.objects.filter(site=site).order_by("day", "user_id").values())
    services.kpi_rollups_refresh(site_ids=[site.pk], days=35, today=scenario.TODAY)
    again = list(KpiDay.objects.filter(site=site).order_by("day", "user_id").values())
    strip = [{k: v for k, v in r.items() if k != "id"} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k != "id"} for r in again]


def test_rebuild_command_names_an_unknown_site_and_rebuilds_a_known_one(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="nowhere"):
        call_command("rebuild_kpi_rollups", "--site", "nowhere")
    KpiDay.objects.all().delete()
    call_command("rebuild_kpi_rollups", "--site", world["site"].code, "--days", "3")
    state = KpiRollupState.objects.get(site=world["site"])
    yesterday = timezone.localtime(timezone.now(), world["site"].tzinfo).date() - dt.timedelta(
        days=1
    )
    assert state.built_through == yesterday
    assert state.built_from == yesterday - dt.timedelta(days=2)


def test_a_month_from_the_rollup_runs_as_many_queries_with_many_more_rows(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    site, a1 = world["site"], world["a1"]
    month = (dt.date(2026, 2, 20), dt.date(2026, 3, 19))

    def count() -> int:
        scope = selectors.make_scope(
            site_ids=[site.pk], start=month[0], end=month[1], today=scenario.TODAY
        )
        with CaptureQueriesContext(connection) as ctx:
            selectors.compute_for_scope(scope, detail=True)
        return len(ctx.captured_queries)

    before = count()
    # given many more delivered cars over the month, rolled up
    for n in range(20):
        day = month[0] + dt.timedelta(days=n)
        at = dt.datetime.combine(day, dt.time(15), tzinfo=scenario.TZ)
        ro = RepairOrderFactory(
            site=site,
            advisor=a1,
            opened_day=day,
            status=ROStatus.DELIVERED,
            delivered_day=day,
            delivered_at=at,
        )
        JobLineFactory(repair_order=ro, standard_hours=Decimal("1.0"))
    services.kpi_rollups_refresh(site_ids=[site.pk], days=35, today=scenario.TODAY)
    # then the month still takes the same number of queries
    assert count() == before


def test_an_advisor_with_only_an_unanswered_follow_up_is_shown_alike_live_and_rolled_up(world):
    from dms.models import Role
    from dms.tests.factories import make_staff

    site, r1 = world["site"], world["r1"]
    # given an advisor whose only activity in the period is a follow-up call nobody answered
    # (on a car delivered before the period)
    a3 = make_staff(role=Role.ADVISOR, site=site, username="adv3", first_name="Sun")
    old = RepairOrderFactory(
        vehicle=r1.vehicle,
        advisor=a3,
        opened_day=dt.date(2026, 2, 1),
        status=ROStatus.DELIVERED,
        delivered_day=dt.date(2026, 2, 1),
        delivered_at=local(2, 1, 12),
    )
    call_task_create(
        site=site,
        kind=TaskKind.FOLLOWUP,
        source_key=f"ro:{old.pk}",
        customer=old.customer,
        vehicle=old.vehicle,
        repair_order=old,
        due_at=local(3, 3, 9),
        due_until=local(3, 6, 20),
        status=TaskStatus.DONE,
        outcome=CallOutcome.NO_ANSWER,
        completed_at=local(3, 4, 10),
    )
    services.kpi_rollups_refresh(site_ids=[site.pk], days=35, today=scenario.TODAY)
    # then the week's advisor table is the same from the rollup as live: no row for Sun
    rolled, live = both(site, scenario.START, scenario.END)
    assert rolled == live
    assert "Sun" not in {r["name"].split()[0] for r in rolled["advisors"]}


def test_a_group_of_sites_in_two_time_zones_gets_the_live_figures_from_the_rollup():
    """The group view (several sites, `?site=all`): the same figures rolled up and live, with
    a second site in another time zone whose work falls around its own midnight."""
    w = scenario.build()
    site, other = w["site"], w["other"]
    other.time_zone = "Asia/Tokyo"
    other.save(update_fields=["time_zone"])
    vehicle = VehicleFactory(owner=CustomerFactory(site=other))
    for day, hour in ((2, 23), (3, 0), (5, 12)):
        opened = dt.datetime(2026, 3, day, hour, 30, tzinfo=dt.UTC)
        local_day = opened.astimezone(other.tzinfo).date()
        ro = RepairOrderFactory(
            vehicle=vehicle,
            opened_day=local_day,
            status=ROStatus.DELIVERED,
            delivered_day=local_day,
            delivered_at=opened,
            labour_total=Decimal("120"),
        )
        JobLineFactory(repair_order=ro, standard_hours=Decimal("1.5"))
    ids = [site.pk, other.pk]
    services.kpi_rollups_rebuild(site_ids=ids, since=dt.date(2026, 1, 1), today=scenario.TODAY)
    assert_rollup_equals_live(ids)
    one = selectors.compute_for_scope(
        selectors.make_scope(
            site_ids=[site.pk], start=scenario.START, end=scenario.END, today=scenario.TODAY
        )
    )
    group = selectors.compute_for_scope(
        selectors.make_scope(
            site_ids=ids, start=scenario.START, end=scenario.END, today=scenario.TODAY
        )
    )
    assert group != one  # the second site's work counts in the group's figures


def test_the_rolled_up_rows_are_read_once_until_a_refresh_changes_them(world):
    """The dashboard reads a period's rolled-up rows from the cache, keyed by each site's last
    refresh: the second read sends no query to the rollup, and after a refresh (which changes
    the rows) the rows are read again and give the new figures."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    site, a1 = world["site"], world["a1"]
    month = (dt.date(2026, 2, 20), dt.date(2026, 3, 19))

    def read():
        scope = selectors.make_scope(
            site_ids=[site.pk], start=month[0], end=month[1], today=scenario.TODAY
        )
        with CaptureQueriesContext(connection) as ctx:
            figures = selectors.compute_for_scope(scope, detail=True)
        rollup_reads = [q for q in ctx.captured_queries if '"dms_kpiday"' in q["sql"]]
        return figures, len(rollup_reads)

    first, reads = read()
    assert reads == 1
    again, reads = read()
    assert (again, reads) == (first, 0)
    # when a car is delivered on a closed day and the periodic refresh runs
    day = dt.date(2026, 3, 10)
    RepairOrderFactory(
        site=site,
        advisor=a1,
        opened_day=day,
        status=ROStatus.DELIVERED,
        delivered_day=day,
        delivered_at=dt.datetime.combine(day, dt.time(15), tzinfo=scenario.TZ),
    )
    services.kpi_rollups_refresh(site_ids=[site.pk], days=35, today=scenario.TODAY)
    # then the rows are read again, with the new car
    after, reads = read()
    assert reads == 1
    assert after["ro_delivered"] == first["ro_delivered"] + 1
    scope = selectors.make_scope(
        site_ids=[site.pk], start=month[0], end=month[1], today=scenario.TODAY
    )
    assert after == selectors.compute_for_scope(scope, detail=True, use_rollup=False)
