"""The conventions every operation shares: JSON bodies, the site header, strict list filters,
cursor pages on every list, and a schema that does not depend on the reader's language."""

import pytest

from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Role, Site

pytestmark = pytest.mark.django_db


def test_a_form_encoded_body_is_a_415(api_as):
    client = api_as(Role.ADVISOR)
    response = client.post(
        "/api/v1/customers/",
        "name=Li&phone=13912345678",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["message"]


def test_a_site_that_is_not_yours_is_a_400_naming_the_header(api_as, site):
    client = api_as(Role.ADVISOR)
    other = Site.objects.create(code="OTHER", name="Other 4S")
    for value in (str(other.pk), "999999", "abc"):
        response = client.get("/api/v1/customers/", HTTP_X_SITE=value)
        assert response.status_code == 400, value
        assert "X-Site" in response.json()["fields"], value
    # your own site is fine
    assert client.get("/api/v1/customers/", HTTP_X_SITE=str(site.pk)).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/customers/?customer=1",
        "/api/v1/vehicles/?colour=red",
        "/api/v1/repair-orders/?stauts=draft",
        "/api/v1/call-tasks/?page=2",
        "/api/v1/followups/?mine=1",
        "/api/v1/complaints/?customer=3",
        "/api/v1/appointments/?page=2",
    ],
)
def test_an_unknown_list_filter_is_a_400_naming_it(api_as, url):
    client = api_as(Role.MANAGER)
    response = client.get(url)
    assert response.status_code == 400, response.json()
    name = url.split("?")[1].split("=")[0]
    assert list(response.json()["fields"]) == [name]
    assert name in response.json()["message"]


def test_a_bad_filter_value_is_a_400_naming_the_filter(api_as):
    client = api_as(Role.MANAGER)
    for url, name in (
        ("/api/v1/repair-orders/?date_from=yesterday", "date_from"),
        ("/api/v1/repair-orders/?status=nonsense", "status"),
        ("/api/v1/vehicles/?due_month=2026-13", "due_month"),
        ("/api/v1/customers/?q=a%00b", "q"),
        ("/api/v1/appointments/?date=2027-02-30", "date"),
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        assert name in response.json()["fields"], url


@pytest.mark.parametrize(
    "path", ["vehicles", "appointments", "complaints", "customers", "repair-orders", "call-tasks"]
)
def test_every_list_is_a_cursor_page(api_as, path):
    body = api_as(Role.MANAGER).get(f"/api/v1/{path}/?page_size=1").json()
    assert set(body) == {"next", "previous", "results"}


def test_vehicles_are_walked_by_plate_in_cursor_pages(api_as, site):
    owner = CustomerFactory(site=site)
    plates = sorted(VehicleFactory(site=site, owner=owner).plate for _ in range(5))
    client = api_as(Role.ADVISOR)
    seen, url = [], "/api/v1/vehicles/?page_size=2"
    while url:
        body = client.get(url).json()
        seen += [v["plate"] for v in body["results"]]
        url = body["next"]
    assert seen == plates


def test_the_schema_is_the_same_in_every_language(api_client):
    english = api_client.get("/api/v1/schema/", HTTP_ACCEPT_LANGUAGE="en").content
    chinese = api_client.get("/api/v1/schema/", HTTP_ACCEPT_LANGUAGE="zh-hans").content
    assert english == chinese


def test_messages_in_error_bodies_stay_in_the_users_language(api_client, make_user):
    make_user(Role.ADVISOR, username="lina")
    response = api_client.post(
        "/api/v1/auth/token/",
        {"username": "lina", "password": "nope"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 401
    assert response.json()["message"] != "Wrong username or password."


@pytest.mark.parametrize(
    "path", ["vehicles", "appointments", "complaints", "customers", "repair-orders", "call-tasks"]
)
def test_options_on_a_list_describes_it_and_never_fails(api_as, path):
    response = api_as(Role.MANAGER).options(f"/api/v1/{path}/")
    assert response.status_code == 200, response.content[:300]
