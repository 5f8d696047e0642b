"""A list page's statement is kept for the next request of the same key and shape
(`dms.api.sqlrows`): built once, then answered with each request's own data, sites, cursor
position and clock; never kept for a filtered list."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.api import sqlrows
from dms.models import Role, StaffRole
from dms.tests.factories import SiteFactory
from followups.models import Complaint
from workorders.tests.factories import RepairOrderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def built(monkeypatch) -> list:
    """The page statements built (compiled from the ORM) while the test runs."""
    made = []
    make = sqlrows._statement

    def counted(sql, params, position, explicit_db):
        made.append(sql)
        return make(sql, params, position, explicit_db)

    monkeypatch.setattr(sqlrows, "_statement", counted)
    return made


def token_client(user) -> APIClient:
    """A client that signs in with a token on every request, as an API client does (the
    user and their roles are read anew each time)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def numbers(body: dict) -> list[str]:
    return [row["number"] for row in body["results"]]


def serializers_page(client, url: str, monkeypatch) -> dict:
    with monkeypatch.context() as m:
        m.setattr(sqlrows, "available", lambda: False)
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_page_asked_again_is_not_built_again_and_reads_the_data_anew(
    site, make_user, built, monkeypatch
):
    for _ in range(4):
        RepairOrderFactory(site=site)
    client = token_client(make_user(Role.MANAGER))
    url = "/api/v1/repair-orders/?page_size=2"

    first = client.get(url).json()
    assert len(built) == 1
    assert client.get(url).json() == first
    assert len(built) == 1  # the kept statement answered

    newest = RepairOrderFactory(site=site)  # a new repair order: the data is read anew
    again = client.get(url).json()
    assert len(built) == 1
    assert numbers(again)[0] == newest.number
    assert again == serializers_page(client, url, monkeypatch)

    # the next pages: one new shape (from a position), built once, then kept
    second = client.get(again["next"]).json()
    assert len(built) == 2
    third = client.get(second["next"]).json()
    assert len(built) == 2
    assert second == serializers_page(client, again["next"], monkeypatch)
    assert third == serializers_page(client, second["next"], monkeypatch)
    seen = numbers(again) + numbers(second) + numbers(third)
    assert len(seen) == len(set(seen)) == 5


def test_each_user_gets_their_own_sites_and_a_changed_role_counts_at_once(site, make_user, built):
    other = SiteFactory()
    here = {RepairOrderFactory(site=site).number for _ in range(2)}
    there = {RepairOrderFactory(site=other).number for _ in range(2)}
    manager = make_user(Role.MANAGER)
    StaffRole.objects.create(user=manager, site=other, role=Role.MANAGER)
    client = token_client(manager)
    colleague = token_client(make_user(Role.MANAGER, at_site=other))
    url = "/api/v1/repair-orders/"

    assert set(numbers(client.get(url).json())) == here | there
    assert set(numbers(colleague.get(url).json())) == there
    StaffRole.objects.filter(user=manager, site=other).delete()
    assert set(numbers(client.get(url).json())) == here
    assert set(numbers(colleague.get(url).json())) == there
    assert len(built) == 3  # one statement per set of sites: never another user's


def test_the_clock_and_the_time_zone_are_the_requests(
    site, make_user, built, settings, monkeypatch
):
    customer = CustomerFactory(site=site)
    now = timezone.now()
    Complaint.objects.create(
        site=site,
        channel="inbound_call",
        customer=customer,
        description="rattle",
        respond_by=now + dt.timedelta(hours=1),
    )
    client = token_client(make_user(Role.MANAGER))
    url = "/api/v1/complaints/"
    settings.TIME_ZONE = "Asia/Shanghai"
    row = client.get(url).json()["results"][0]
    assert row["overdue"] is False
    assert row["respond_by"].endswith("+08:00")

    later = now + dt.timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    settings.TIME_ZONE = "America/New_York"
    row = client.get(url).json()["results"][0]
    assert row["overdue"] is True  # an hour late by this request's clock
    assert row["respond_by"].endswith("-05:00")
    assert len(built) == 1


def test_a_filtered_list_is_built_for_every_request(site, make_user, built):
    """A filter may read what it compares with in Python (the customer lookup's hits): a kept
    statement would hold yesterday's hits."""
    client = token_client(make_user(Role.MANAGER))
    first = CustomerFactory(site=site, name="王建军")
    VehicleFactory(owner=first, site=site)
    url = "/api/v1/customers/?q=王建军"
    assert [c["id"] for c in client.get(url).json()["results"]] == [first.pk]
    second = CustomerFactory(site=site, name="王建军")
    VehicleFactory(owner=second, site=site)
    assert {c["id"] for c in client.get(url).json()["results"]} == {first.pk, second.pk}
    assert len(built) == 2


def test_a_statement_with_another_value_of_time_or_an_unclear_position_is_not_kept():
    at = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    statement, keep = sqlrows._statement("… %s %s", [1, at], at, None)
    assert keep
    assert statement.params == (1, sqlrows.POSITION)
    _statement, keep = sqlrows._statement("… %s %s %s", [1, at, at], at, None)
    assert not keep  # the position twice: which is it?
    _statement, keep = sqlrows._statement("… %s %s", [at, "x"], sqlrows._NO_POSITION, None)
    assert not keep  # a date-time the view computed (the clock)
    _statement, keep = sqlrows._statement(
        "… %s", [dt.date(2026, 12, 7)], sqlrows._NO_POSITION, None
    )
    assert not keep


def test_the_kept_statements_are_bounded():
    kept = sqlrows._KeptStatements(2)
    for key in ("a", "b", "c"):
        kept.add(key, None)
    assert kept.get("a") is None
    assert kept.get("b") is not None
    assert kept.get("c") is not None


def test_the_links_are_the_requests_host_and_scheme(site, make_user, built):
    RepairOrderFactory(site=site)
    client = token_client(make_user(Role.MANAGER))
    url = "/api/v1/repair-orders/"
    first = client.get(url, HTTP_HOST="dms-a.example").json()["results"][0]["url"]
    second = client.get(url, HTTP_HOST="dms-b.example", secure=True).json()["results"][0]["url"]
    assert first.startswith("http://dms-a.example/api/v1/repair-orders/")
    assert second.startswith("https://dms-b.example/api/v1/repair-orders/")
    assert len(built) == 1


def test_shapes_beyond_the_bound_are_built_not_kept(site, make_user, built, monkeypatch):
    monkeypatch.setattr(sqlrows, "SHAPES_KEPT", 1)
    for _ in range(3):
        RepairOrderFactory(site=site)
    client = token_client(make_user(Role.MANAGER))
    first = client.get("/api/v1/repair-orders/?page_size=1").json()
    for _ in range(2):
        assert client.get(first["next"]).json()["results"]
    assert len(built) == 3  # the first page kept, the next page's shape built twice
