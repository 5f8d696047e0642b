from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dms.models import Role
from dms.tests.factories import morning_time_zone
from workorders.models import JobLine, ROStatus
from workorders.promise import promise_risk as late_risk
from workorders.promise import remaining_hours_of
from workorders.tests.factories import JobLineFactory
from workshop import selectors, services
from workshop.selectors import board_columns

pytestmark = pytest.mark.django_db

NOW = timezone.now()


class TestLateRisk:
    def test_enough_time_left_is_ok(self):
        risk = late_risk(
            promised_at=NOW + timedelta(hours=3), now=NOW, remaining_hours=Decimal("2.5")
        )
        assert risk == "ok"

    def test_more_work_than_time_left_is_at_risk(self):
        risk = late_risk(
            promised_at=NOW + timedelta(hours=2), now=NOW, remaining_hours=Decimal("2.5")
        )
        assert risk == "at_risk"

    def test_past_the_promise_is_late(self):
        risk = late_risk(promised_at=NOW - timedelta(minutes=1), now=NOW, remaining_hours=0)
        assert risk == "late"

    def test_no_promise_or_ready_car_carries_no_flag(self):
        assert late_risk(promised_at=None, now=NOW, remaining_hours=Decimal(9)) == ""
        assert (
            late_risk(
                promised_at=NOW - timedelta(hours=1),
                now=NOW,
                remaining_hours=Decimal(0),
                status=ROStatus.READY,
            )
            == ""
        )

    def test_remaining_hours_count_unfinished_agreed_work_less_clocked_time(self, make_job):
        job = make_job(standard_hours=Decimal("3.00"), actual_hours=Decimal("1.00"))
        JobLineFactory(repair_order=job.repair_order, standard_hours=Decimal("2.00"))
        JobLineFactory(
            repair_order=job.repair_order,
            standard_hours=Decimal("1.50"),
            work_status=JobLine.WorkStatus.DONE,
        )
        JobLineFactory(
            repair_order=job.repair_order,
            standard_hours=Decimal("4.00"),
            approval=JobLine.Approval.PROPOSED,
        )
        assert remaining_hours_of(job.repair_order.lines.all()) == Decimal("4.00")


def _card(columns, ro_id):
    for column in columns:
        for card in column["cards"]:
            if card["id"] == ro_id:
                return column["key"], card
    raise AssertionError("card not on the board")


class TestBoard:
    def test_cards_sit_in_their_columns_with_what_the_wall_shows(self, site, tech, make_job):
        job = make_job(status=ROStatus.AUTHORIZED, technician=tech, bay="B1", promised_in_hours=5)
        make_job(status=ROStatus.WAITING_PARTS)
        make_job(status=ROStatus.QC)
        make_job(status=ROStatus.DELIVERED)
        columns = board_columns(site=site)
        assert [c["key"] for c in columns] == [
            "to_dispatch",
            "in_progress",
            "waiting_approval",
            "waiting_parts",
            "qc",
            "washing",
            "ready",
        ]
        assert [len(c["cards"]) for c in columns] == [1, 0, 0, 1, 1, 0, 0]
        key, card = _card(columns, job.repair_order_id)
        vehicle = job.repair_order.vehicle
        assert key == "to_dispatch"
        assert card["plate"] == vehicle.plate
        assert card["model"] == "Volkswagen Lavida"
        assert card["jobs"][0]["description"] == job.description
        assert card["technicians"] == [tech.get_full_name()]
        assert card["bays"] == ["B1"]
        assert 290 <= card["minutes_left"] <= 300
        assert card["risk"] == "ok"

    def test_at_risk_and_late_cards(self, site, make_job):
        risky = make_job(standard_hours=Decimal("3.00"), promised_in_hours=2)
        late = make_job(promised_in_hours=-1)
        columns = board_columns(site=site)
        assert _card(columns, risky.repair_order_id)[1]["risk"] == "at_risk"
        assert _card(columns, late.repair_order_id)[1]["risk"] == "late"

    def test_another_sites_cards_stay_off(self, site, make_job):
        from dms.tests.factories import SiteFactory

        make_job()
        assert sum(len(c["cards"]) for c in board_columns(site=SiteFactory())) == 0

    @pytest.mark.parametrize("cards", [1, 60])
    def test_constant_queries(
        self, site, make_user, make_job, django_assert_max_num_queries, cards
    ):
        techs = [make_user(Role.TECHNICIAN) for _ in range(3)]
        statuses = [ROStatus.AUTHORIZED, ROStatus.IN_PROGRESS, ROStatus.WAITING_PARTS, ROStatus.QC]
        for i in range(cards):
            job = make_job(status=statuses[i % 4], technician=techs[i % 3], promised_in_hours=i)
            JobLineFactory(repair_order=job.repair_order, technician=techs[(i + 1) % 3])
        with django_assert_max_num_queries(4):
            columns = board_columns(site=site)
        assert sum(len(c["cards"]) for c in columns) == cards


class TestWorkload:
    def test_assigned_and_clocked_hours_per_technician(self, site, tech, make_job):
        # the half hour clocked an hour ago lies within the site's day at any hour of the clock
        site.time_zone = morning_time_zone()
        site.save(update_fields=["time_zone"])
        job = make_job(technician=tech, standard_hours=Decimal("2.50"))
        make_job(technician=tech, standard_hours=Decimal("1.00"), work_status="done")
        t0 = timezone.now() - timedelta(hours=1)
        services.job_clock_on(job_id=job.pk, actor=tech, now=t0)
        services.job_clock_off(job_id=job.pk, actor=tech, now=t0 + timedelta(minutes=30))
        load = selectors.technician_workload(
            site=site, day=timezone.localtime(t0, site.tzinfo).date()
        )
        row = next(t for t in load["technicians"] if t["id"] == tech.pk)
        assert row["assigned_hours"] == Decimal("2.5")
        assert row["clocked_hours"] == Decimal("0.5")
        assert row["hours_on_duty"] == site.technician_hours_per_day
        assert load["days"][0]["capacity"] == site.daily_bookable_hours

    def test_clocked_hours_count_only_the_part_of_each_entry_inside_the_day(
        self, site, tech, make_job
    ):
        from datetime import datetime

        from workshop.models import ClockEntry

        day = timezone.localdate() - timedelta(days=3)
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=site.tzinfo)
        now = midnight + timedelta(hours=10)
        job = make_job(technician=tech, standard_hours=Decimal("4.00"))

        def entry(start_h, end_h):
            ClockEntry.objects.create(
                job=job,
                technician=tech,
                started_at=midnight + timedelta(hours=start_h),
                ended_at=None if end_h is None else midnight + timedelta(hours=end_h),
            )

        entry(-3, -2)  # the day before, ended before the day began: nothing
        entry(-1, 0)  # ended at the stroke of midnight: nothing
        entry(-0.5, 0.5)  # across midnight: its half hour after midnight
        entry(8, 9)  # an hour in the day
        entry(11, 12)  # the hour after "now" of an earlier look at the day: counted in full
        entry(9.5, None)  # still on: up to now, and shown as the job being worked
        load = selectors.technician_workload(site=site, day=day, now=now)
        row = next(t for t in load["technicians"] if t["id"] == tech.pk)
        assert row["clocked_hours"] == Decimal("3.0")  # 0.5 + 1 + 1 + 0.5
        assert row["clocked_on"].endswith(job.description)
