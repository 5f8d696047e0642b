"""Hand-made hostile input (the security review's cases): each is a 4xx with a message naming the
field, never a 500, and changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory, VehicleFactory
from dms.models import Role
from workorders.tests.factories import HANDOVER_ALL, ro_in_state

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/customers/?search=a%00b", "search"),
        ("/api/v1/lookup/?q=%00", "q"),
        ("/api/v1/repair-orders/?status=x%00", "status"),
        ("/api/v1/customers/1%00/", "path"),
        ("/api/v1/call-tasks/?due_before=2026%00", "due_before"),
    ],
)
def test_nul_in_an_api_query_or_path_is_a_400_naming_it(api_as, url, field):
    response = api_as(Role.ADVISOR).get(url)
    assert response.status_code == 400
    assert "NUL" in response.json()["fields"][field][0]


@pytest.mark.parametrize("url", ["/ro/a/x%00/", "/customers/?q=%00", "/customers/lookup/?q=a%00"])
def test_nul_in_a_page_address_is_a_400(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_nul_in_a_form_body_is_a_400(client, make_user):
    client.force_login(make_user(Role.ADVISOR))
    response = client.post("/customers/new/", {"name": "A\x00B", "phone": "13800138000"})
    assert response.status_code == 400
    assert not Customer.objects.filter(name__startswith="A").exists()


def test_nul_in_a_json_object_key_is_a_400(api_as, site):
    ro = ro_in_state("invoiced", site=site)
    response = api_as(Role.ADVISOR).post(
        f"/api/v1/repair-orders/{ro.pk}/deliver/",
        {"payment_method": "cash", "handover": {"work\u0000explained": True}},
        format="json",
    )
    assert response.status_code == 400


def test_an_impossible_booking_date_is_a_400_on_start(api_as, site):
    vehicle = VehicleFactory(owner=CustomerFactory(site=site))
    response = api_as(Role.ADVISOR).post(
        "/api/v1/appointments/",
        {"customer": vehicle.owner_id, "vehicle": vehicle.pk, "start": "2027-02-30T10:00:00+08:00"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["start"]


def test_deeply_nested_json_is_a_400(api_as):
    body = "[" * 100_000 + "]" * 100_000
    response = api_as(Role.ADVISOR).generic(
        "POST", "/api/v1/customers/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested" in response.json()["message"]
    shallow_but_deep = '{"name": ' + "[" * 40 + "]" * 40 + "}"
    response = api_as(Role.ADVISOR).generic(
        "POST", "/api/v1/customers/", shallow_but_deep, content_type="application/json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("name", ["\u200b\u200b", "\u200d\ufeff", "\u202e", " \u3000 ", "A\x07B"])
def test_a_name_of_invisible_or_control_characters_is_refused(api_as, name):
    response = api_as(Role.ADVISOR).post(
        "/api/v1/customers/", {"name": name, "phone": "13800138000"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"]["name"]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("birthday", ["0001-01-01", "2999-01-01", "1899-12-31"])
def test_a_birthday_out_of_range_is_refused(api_as, birthday):
    response = api_as(Role.ADVISOR).post(
        "/api/v1/customers/",
        {"name": "王五", "phone": "13800138000", "birthday": birthday},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["birthday"]


@pytest.mark.parametrize(
    "promised",
    ["9999-12-31T00:00:00+08:00", "9999-12-31T23:59:59-08:00", "2999-01-01T10:00", "0001-01-01"],
)
def test_a_promised_time_out_of_range_is_refused(api_as, site, promised):
    ro = ro_in_state("draft", site=site)
    response = api_as(Role.ADVISOR).post(
        f"/api/v1/repair-orders/{ro.pk}/authorize/",
        {"channel": "phone", "customer_name": "王五", "promised_at": promised},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["promised_at"]
    ro.refresh_from_db()
    assert ro.status == "draft"


def test_a_mileage_reading_date_out_of_range_is_refused(api_as, site):
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), mileage_km=1000)
    for read_on in ("0001-01-01", "9999-12-31", str(timezone.localdate() + timedelta(days=2))):
        response = api_as(Role.ADVISOR).post(
            f"/api/v1/vehicles/{vehicle.pk}/mileage/", {"km": 2000, "read_on": read_on}
        )
        assert response.status_code == 400, read_on
        assert response.json()["fields"]["read_on"]


def test_a_repeated_delivery_with_another_payment_method_is_a_409(api_as, site):
    ro = ro_in_state("invoiced", site=site)
    api = api_as(Role.ADVISOR)
    url = f"/api/v1/repair-orders/{ro.pk}/deliver/"
    body = {"payment_method": "cash", "handover": HANDOVER_ALL}
    assert api.post(url, body, format="json").status_code == 200
    # the identical repeat is a no-op
    again = api.post(url, body, format="json")
    assert again.status_code == 200
    assert again.json()["status"] == "delivered"
    # another body is a conflict that says what is on record
    other = api.post(url, {**body, "payment_method": "card"}, format="json")
    assert other.status_code == 409
    assert other.json()["recorded"] == {"payment_method": "cash"}
    assert "cash" in other.json()["message"]
    ro.refresh_from_db()
    assert ro.payment_method == "cash"


def test_a_repeated_cancel_with_another_reason_is_a_409(api_as, site):
    ro = ro_in_state("draft", site=site)
    api = api_as(Role.ADVISOR)
    url = f"/api/v1/repair-orders/{ro.pk}/cancel/"
    assert api.post(url, {"reason": "Customer left"}, format="json").status_code == 200
    assert api.post(url, {"reason": "Customer left"}, format="json").status_code == 200
    other = api.post(url, {"reason": "Duplicate"}, format="json")
    assert other.status_code == 409
    assert other.json()["recorded"] == {"reason": "Customer left"}
