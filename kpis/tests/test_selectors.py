import datetime as dt
from decimal import Decimal

import pytest

from kpis import selectors
from kpis.tests import scenario

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def world():
    return scenario.build()


def compute(world, **kw):
    return selectors.kpis_compute(
        site_ids=[world["site"].pk],
        start=kw.get("start", scenario.START),
        end=kw.get("end", scenario.END),
        today=scenario.TODAY,
        detail=kw.get("detail", False),
    )


def test_every_kpi_matches_the_hand_computed_week(world):
    # given the hand-computed week, when the KPIs are computed for it
    result = compute(world)
    # then every figure is exactly the one worked out by hand
    for key, expected in scenario.EXPECTED.items():
        assert result[key] == expected, key


def test_rates_are_null_when_there_is_nothing_to_divide_by(world):
    # given a period with no activity at all
    result = compute(world, start=dt.date(2025, 1, 6), end=dt.date(2025, 1, 6))
    # then counts are zero and every rate is null, never a division error or 0 %
    assert result["ro_opened"] == 0
    for key in (
        "appointment_rate",
        "show_rate",
        "hours_per_ro",
        "on_time_delivery_rate",
        "qc_first_pass_rate",
        "comeback_rate",
        "technician_efficiency",
        "followup_rate",
        "satisfaction_rate",
        "first_service_capture_rate",
        "complaint_median_hours_to_close",
    ):
        assert result[key] is None, key


def test_advisor_and_technician_tables_add_up(world):
    # when the dashboard asks for the detail
    result = compute(world, detail=True)
    advisors = {r["name"]: r for r in result["advisors"]}
    # then each advisor's own cars are counted, and the rows add up to the site total
    assert advisors["Li A"]["ro_opened"] == 3  # R1 R3 R5
    assert advisors["Wu B"]["ro_opened"] == 2  # R2 R7
    assert advisors["Li A"]["ro_delivered"] == 3  # R1 R3 R6
    assert advisors["Li A"]["on_time_delivery_rate"] == 0.6667  # R1 R6 of 3
    assert advisors["Wu B"]["satisfaction_rate"] == 0.0  # R2 answered 2
    assert sum(r["ro_delivered"] for r in result["advisors"]) == result["ro_delivered"]
    techs = {r["user_id"]: r for r in result["technicians"]}
    t1 = techs[world["t1"].pk]
    assert t1["technician_efficiency"] == 0.8  # 2.0 ÷ 2.5
    assert t1["clocked_hours"] == 3.5
    assert t1["attended_hours"] == 48.0
    assert techs[world["t2"].pk]["technician_efficiency"] == 0.75  # 1.5 ÷ 2.0
    # the off-duty technician has no attended hours and no row
    assert len(techs) == 2


def test_trend_has_one_point_per_day(world):
    trend = compute(world, detail=True)["trend"]
    assert trend["unit"] == "day"
    assert trend["labels"][0] == "2026-03-02"
    assert len(trend["labels"]) == 7
    assert trend["ro_opened"] == [2, 0, 1, 0, 0, 1, 1]
    assert trend["ro_delivered"] == [1, 1, 0, 1, 1, 0, 0]
    assert trend["revenue"][0] == 140.0  # R6 90 + 50
    assert trend["on_time_delivery_rate"][:4] == [1.0, 1.0, None, 0.0]
    assert trend["satisfaction_rate"][2] == 1.0  # 03-04: R6 answered 4
    assert trend["satisfaction_rate"][6] == 0.0  # 03-08: R2 answered 2


def test_long_periods_trend_by_week(world):
    trend = compute(world, start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31), detail=True)[
        "trend"
    ]
    assert trend["unit"] == "week"
    assert trend["labels"][0] == "2025-12-29"  # the Monday of the first week
    assert sum(trend["ro_opened"]) == 7  # R1 R2 R3 R5 R6 R7 R8


# --- period edges in the site's time zone -----------------------------------------------
def test_a_delivery_half_past_midnight_local_belongs_to_that_local_day(world):
    # R6 was delivered at 00:30 Shanghai time on 03-02 (16:30 UTC on 03-01)
    first_day = compute(world, start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 2))
    day_before = compute(world, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 1))
    assert first_day["ro_delivered"] == 1
    assert day_before["ro_delivered"] == 0


def test_timestamps_are_cut_at_local_midnight(world):
    # R3's follow-up was completed at 00:30 local on 03-09: outside a period ending 03-08 …
    week = compute(world)
    assert week["satisfaction_rate"] == 0.6667
    # … and inside a period starting 03-09
    next_day = compute(world, start=dt.date(2026, 3, 9), end=dt.date(2026, 3, 9))
    assert next_day["satisfaction_rate"] == 0.0
    # L5 was signed off at 00:10 local on 03-09: not a finished job of the week
    assert next_day["technician_efficiency"] == 1.0  # 1.0 sold ÷ 1.0 clocked


def test_end_date_is_inclusive(world):
    # R7 was opened on the last day of the period
    assert compute(world, start=dt.date(2026, 3, 8), end=dt.date(2026, 3, 8))["ro_opened"] == 1


def test_each_site_uses_its_own_time_zone(world):
    # given the site moved to UTC: the same instant falls on a different local day
    from outreach.models import CallTask

    site = world["site"]
    site.time_zone = "UTC"
    site.save(update_fields=["time_zone"])
    # R3's follow-up at 00:30 Shanghai on 03-09 is 16:30 UTC on 03-08: now inside the week
    result = compute(world)
    assert CallTask.objects.filter(repair_order=world["r3"]).exists()
    assert result["satisfaction_rate"] == 0.5  # 5, 4 satisfied of 5, 2, 4, 1


def test_another_sites_records_never_count(world):
    only_other = selectors.kpis_compute(
        site_ids=[world["other"].pk], start=scenario.START, end=scenario.END
    )
    assert only_other["ro_delivered"] == 1
    assert only_other["labour_revenue"] == 999.0
    both = selectors.kpis_compute(
        site_ids=[world["site"].pk, world["other"].pk],
        start=scenario.START,
        end=scenario.END,
        today=scenario.TODAY,
    )
    assert both["ro_delivered"] == 5
    assert both["labour_revenue"] == 2079.0


def test_retention_of_several_sites_counts_each_customer_by_its_own_sites_thresholds(world):
    from dms.tests.factories import SiteFactory
    from kpis.tests.scenario import CustomerFactory, local

    site, other = world["site"], world["other"]
    other.time_zone = "Asia/Shanghai"
    other.save(update_fields=["time_zone"])
    # the other site's customers, as of 2026-03-08: 4 and 7 months since their last visit
    CustomerFactory(site=other, last_delivery_at=local(11, 1, 10, year=2025))
    CustomerFactory(site=other, last_delivery_at=local(8, 1, 10, year=2025))
    # a third site's customer, not in the scope, would be active everywhere
    CustomerFactory(site=SiteFactory(time_zone="Asia/Shanghai"), last_delivery_at=local(3, 1))

    def retention():
        return selectors.kpis_compute(
            site_ids=[site.pk, other.pk],
            start=scenario.START,
            end=scenario.END,
            today=scenario.TODAY,
        )["retention"]

    # same time zone and thresholds (3 / 6 / 9): one set of ranges for both sites
    assert retention() == {"active": 2, "at_risk": 2, "nearly_lost": 2, "lost": 1}
    # the other site counts "at risk" from 5 months and "lost" from 7: its two customers move
    other.retention_at_risk_months = 5
    other.retention_lost_months = 7
    other.save(update_fields=["retention_at_risk_months", "retention_lost_months"])
    assert retention() == {"active": 3, "at_risk": 1, "nearly_lost": 1, "lost": 2}


def test_query_count_does_not_grow_with_the_data(world, django_assert_max_num_queries):
    from kpis.tests.scenario import RepairOrderFactory

    with django_assert_max_num_queries(25) as small:
        compute(world, detail=True)
    # given many more ROs, with lines and parts
    for _ in range(30):
        RepairOrderFactory(
            site=world["site"],
            vehicle=world["r1"].vehicle,
            customer=world["r1"].customer,
            advisor=world["a1"],
            opened_day=dt.date(2026, 3, 4),
        )
    with django_assert_max_num_queries(25) as big:
        compute(world, detail=True)
    assert len(big.captured_queries) == len(small.captured_queries)


def test_a_score_of_4_recorded_as_dissatisfied_is_not_satisfied(world):
    from outreach.models import CallTask

    # given the agent marked R6's customer dissatisfied although they said 4
    CallTask.objects.filter(repair_order=world["r6"]).update(data={"dissatisfied": True})
    # then only R1's 5 counts as satisfied, of the three reached
    assert compute(world)["satisfaction_rate"] == 0.3333


def test_an_implausibly_short_clock_time_is_counted_and_the_ratio_parts_add_up(world):
    from workorders.models import JobLine
    from workorders.tests.factories import JobLineFactory
    from workshop.models import ClockEntry

    # given, besides the hand-computed week, a 3 h job signed off after 10 seconds on the clock
    job = JobLineFactory(
        repair_order=world["r1"],
        description="Timing belt",
        standard_hours=Decimal("3.0"),
        labour_amount=Decimal("540"),
        technician=world["t1"],
        approval=JobLine.Approval.AUTHORIZED,
        work_status=JobLine.WorkStatus.DONE,
        signed_off_at=scenario.local(3, 4, 15),
    )
    start = scenario.local(3, 4, 14)
    ClockEntry.objects.create(
        job=job, technician=world["t1"], started_at=start, ended_at=start + dt.timedelta(seconds=10)
    )
    # when the KPIs are computed
    result = compute(world, detail=True)
    # then the job is counted as implausible
    assert result["implausible_clock_jobs"] == 1
    # and the efficiency is the sold hours ÷ the clocked hours shown beside it (as shown, to
    # the hundredth of an hour)
    assert result["finished_sold_hours"] == 6.5  # 2.0 + 1.5 + 3.0
    assert result["finished_clocked_hours"] == 4.5  # 2.5 + 2.0 + 10 seconds
    shown = result["finished_sold_hours"] / result["finished_clocked_hours"]
    assert result["technician_efficiency"] == pytest.approx(shown, abs=0.01)
    t1 = next(r for r in result["technicians"] if r["user_id"] == world["t1"].pk)
    shown = t1["sold_hours"] / t1["finished_clocked_hours"]
    assert t1["technician_efficiency"] == pytest.approx(shown, abs=0.01)
    # and the records behind it list that job as implausible
    rows = selectors.RECORD_SETS["jobs_finished"].build(
        selectors.make_scope(site_ids=[world["site"].pk], start=scenario.START, end=scenario.END)
    )
    assert [r.pk for r in rows if r.implausible_time] == [job.pk]
