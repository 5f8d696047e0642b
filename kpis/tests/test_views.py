import datetime as dt

import pytest
from django.core.cache import cache
from django.test import Client

from dms.models import Role
from dms.tests.factories import make_staff
from kpis.tests import scenario
from workorders.tests.factories import RepairOrderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

WEEK = {"start": "2026-03-02", "end": "2026-03-08", "preset": "custom"}


@pytest.fixture
def world():
    return scenario.build()


@pytest.fixture
def manager(world):
    client = Client()
    client.force_login(make_staff(role=Role.MANAGER, site=world["site"], username="boss"))
    return client


def test_dashboard_shows_tiles_with_targets_and_drill_down_links(world, manager):
    response = manager.get("/dashboard/", {"site": world["site"].pk, **WEEK})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="kpi-followup_rate"' in html
    assert "50.0 %" in html  # follow-up rate, on-time rate …
    assert "target 30.0 %" in html
    assert "target 98.0 %" in html
    assert "/dashboard/records/ro_delivered/" in html
    assert "Li A" in html  # the advisor table
    assert 'id="kpi-trend"' in html


def test_dashboard_is_for_managers_only(world):
    client = Client()
    client.force_login(make_staff(role=Role.ADVISOR, site=world["site"]))
    assert client.get("/dashboard/").status_code == 403


def test_dashboard_of_another_site_is_404(world, manager):
    assert manager.get("/dashboard/", {"site": world["other"].pk}).status_code == 404


def test_a_bad_period_shows_the_error_and_this_month(world, manager):
    response = manager.get(
        "/dashboard/", {"site": world["site"].pk, "start": "2026-03-08", "end": "2026-03-01"}
    )
    assert response.status_code == 200
    assert "must not be before" in response.content.decode()


def test_drill_down_lists_the_ros_behind_the_on_time_rate(world, manager):
    response = manager.get("/dashboard/records/ro_delivered/", {"site": world["site"].pk, **WEEK})
    html = response.content.decode()
    assert response.status_code == 200
    assert "4 records" in html
    assert world["r1"].number in html
    only = manager.get(
        "/dashboard/records/ro_delivered/",
        {"site": world["site"].pk, "only": "on_time", **WEEK},
    ).content.decode()
    assert "2 records" in only  # R1 and R6
    assert world["r3"].number not in only


def test_drill_down_by_advisor_and_technician(world, manager):
    by_advisor = manager.get(
        "/dashboard/records/ro_opened/",
        {"site": world["site"].pk, "advisor": world["a2"].pk, **WEEK},
    ).content.decode()
    assert "2 records" in by_advisor
    by_tech = manager.get(
        "/dashboard/records/clock_entries/",
        {"site": world["site"].pk, "technician": world["t1"].pk, **WEEK},
    ).content.decode()
    assert "3 records" in by_tech


def test_unknown_drill_down_is_404(world, manager):
    assert manager.get("/dashboard/records/nope/").status_code == 404


def test_drill_down_csv_streams_every_row(world, manager):
    response = manager.get(
        "/dashboard/records/ro_delivered/", {"site": world["site"].pk, "format": "csv", **WEEK}
    )
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert len(lines) == 5  # header + 4 ROs
    assert "On time" in lines[0]


def test_export_csv_has_kpis_and_tables(world, manager):
    response = manager.get("/dashboard/export.csv", {"site": world["site"].pk, **WEEK})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "Follow-up rate,0.5," in text
    assert "Li A," in text
    assert response["Content-Disposition"].startswith("attachment;")


def test_dashboard_query_count_does_not_grow(world, manager, django_assert_max_num_queries):
    params = {"site": world["site"].pk, **WEEK}
    cache.clear()  # the previous period's figures are cached; measure a cold page
    with django_assert_max_num_queries(80) as small:
        manager.get("/dashboard/", params)
    for _ in range(20):
        RepairOrderFactory(
            site=world["site"],
            vehicle=world["r1"].vehicle,
            customer=world["r1"].customer,
            advisor=world["a1"],
            opened_day=dt.date(2026, 3, 4),
        )
    cache.clear()
    with django_assert_max_num_queries(80) as big:
        manager.get("/dashboard/", params)
    assert len(big.captured_queries) == len(small.captured_queries)


def test_dashboard_and_its_csv_read_the_sites_rows_once(world, manager):
    """The page's sites are read once and the KPI scope is made from those rows: the figures
    and the previous period's do not read them again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    params = {"site": world["site"].pk, **WEEK}
    for path in ("/dashboard/", "/dashboard/export.csv"):
        cache.clear()
        with CaptureQueriesContext(connection) as ctx:
            response = manager.get(path, params)
            b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == 200, path
        site_rows = [
            q["sql"]
            for q in ctx.captured_queries
            if q["sql"].startswith('SELECT "dms_site"."id"')
            and 'WHERE "dms_site"."id" IN' in q["sql"]
            and 'ORDER BY "dms_site"."id" ASC' in q["sql"]
            and "LIMIT" not in q["sql"]
        ]
        assert len(site_rows) == 1, (path, site_rows)


def test_all_sites_for_a_manager_whose_first_site_is_another_role(world):
    from dms.models import StaffRole

    # given a user who is an advisor at the first site and the manager of the other
    user = make_staff(role=Role.ADVISOR, site=world["site"], username="mixed")
    StaffRole.objects.create(user=user, site=world["other"], role=Role.MANAGER)
    client = Client()
    client.force_login(user)
    # when they ask for all their sites, they see the site they manage, not the other one
    response = client.get("/dashboard/", {"site": "all", **WEEK})
    assert response.status_code == 200
    assert response.context["kpis"]["ro_delivered"] == 1
    assert response.context["kpis"]["labour_revenue"] == 999.0


def test_drill_down_csv_neutralises_formula_cells(world, manager):
    from customers.models import Customer

    Customer.objects.filter(site=world["site"]).update(name="+cmd|' /C calc'!A0")
    response = manager.get(
        "/dashboard/records/ro_delivered/", {"site": world["site"].pk, "format": "csv", **WEEK}
    )
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "'+cmd|' /C calc'!A0" in text
    assert ",+cmd" not in text
