"""Property-based input test (Hypothesis), beside the Schemathesis contract test: hostile values
(control and zero-width text, NUL, impossible and far-off dates, huge numbers, deep nesting,
wrong types) sent to the API's write endpoints and list filters and to the HTML forms never make
a 500 — each answer is a 2xx/3xx or a 4xx."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from customers.forms import MileageForm, _customer_fields, _vehicle_fields
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.models import Role
from dms.tests.factories import make_staff
from workorders.forms import AuthorizeForm, DelayForm, DeliverForm, EstimateForm
from workorders.tests.factories import HANDOVER_ALL, ro_in_state

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SPECIAL = [
    "",
    "\x00",
    "a\x00b",
    "\u200b",
    "\u200d\ufeff\u202e",
    "\x07\x1b[2J",
    "2027-02-30T10:00:00+08:00",
    "2027-02-30",
    "9999-12-31",
    "9999-12-31T23:59:59-08:00",
    "0001-01-01",
    "0001-01-01T00:00:00+14:00",
    "24:61",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "99999999999999999999999",
    "=cmd|' /C calc'!A0",
    "' OR 1=1 --",
    "%00",
    "../../etc/passwd",
    "x" * 3000,
    "沪A12345",
    "13800138000",
]
# the ones worth trying in every field of every HTML form (each form answer renders a page)
FORM_SPECIAL = [
    "\x00",
    "\u200b",
    "\x07\x1b[2J",
    "2027-02-30T10:00",
    "9999-12-31",
    "9999-12-31T23:59",
    "0001-01-01",
    "0001-01-01T00:00",
    "-1",
    "99999999999999999999999",
    "x" * 3000,
]
text = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=20))
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    text,
)
json_value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
form_value = st.one_of(text, st.integers(min_value=-(2**70), max_value=2**70).map(str))

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture
def world(site):
    vehicle = VehicleFactory(owner=CustomerFactory(site=site), mileage_km=10000)
    advisor = make_staff(role=Role.ADVISOR, site=site, username="fuzz_adv")
    make_staff(role=Role.MANAGER, site=site, username="fuzz_mgr")
    api = APIClient()
    api.force_authenticate(advisor)
    return {
        "site": site,
        "vehicle": vehicle,
        "draft": ro_in_state("draft", site=site),
        "invoiced": ro_in_state("invoiced", site=site),
        "advisor": advisor,
        "api": api,
    }


def _soon(**delta):
    return (timezone.localtime() + timedelta(**delta)).replace(microsecond=0).isoformat()


def _api_cases(w):
    """(url, a valid body, the fields to spoil): each example spoils one or two fields of a body
    that would otherwise pass, so the hostile value reaches the checks behind the first ones."""
    v, draft, invoiced = w["vehicle"], w["draft"], w["invoiced"]
    customer = {"name": "王五", "phone": "13800138000", "birthday": "1980-05-01"}
    customer_fields = [*customer, "phone2", "email", "title", "kind", "preferred_channel"]
    customer_fields += ["quiet_hours_start", "quiet_hours_end"]
    vehicle = {"owner": v.owner_id, "vin": make_vin(7), "plate": "沪B54321", "mileage_km": 100}
    return [
        ("/api/v1/customers/", customer, customer_fields),
        (f"/api/v1/customers/{v.owner_id}/", {}, customer_fields),  # PATCH
        ("/api/v1/vehicles/", vehicle, [*vehicle, "purchase_date", "model"]),
        (
            f"/api/v1/vehicles/{v.pk}/mileage/",
            {"km": 20000, "read_on": str(timezone.localdate())},
            ["km", "read_on"],
        ),
        (
            "/api/v1/appointments/",
            {"customer": v.owner_id, "vehicle": v.pk, "start": _soon(days=1)},
            ["customer", "vehicle", "start", "advisor", "estimated_hours", "concern"],
        ),
        (
            f"/api/v1/repair-orders/{draft.pk}/authorize/",
            {"channel": "phone", "customer_name": "王五", "promised_at": _soon(hours=6)},
            ["channel", "customer_name", "promised_at", "not_to_exceed", "signature"],
        ),
        (
            f"/api/v1/repair-orders/{invoiced.pk}/deliver/",
            {"payment_method": "cash", "handover": HANDOVER_ALL},
            ["payment_method", "handover", "next_service_due_date", "next_service_due_km"],
        ),
        (f"/api/v1/repair-orders/{draft.pk}/cancel/", {"reason": "x"}, ["reason"]),
    ]


LISTS = [
    ("/api/v1/customers/", ["search", "cursor", "page_size", "ordering"]),
    ("/api/v1/repair-orders/", ["status", "search", "opened_after", "cursor"]),
    ("/api/v1/appointments/", ["date", "status"]),
    ("/api/v1/call-tasks/", ["due_before", "due_after", "status", "kind"]),
    ("/api/v1/lookup/", ["q"]),
]


@FUZZ
@given(data=st.data())
def test_api_write_endpoints_never_answer_500(world, data):
    url, valid, fields = data.draw(st.sampled_from(_api_cases(world)), label="endpoint")
    spoilt = data.draw(
        st.dictionaries(st.sampled_from(fields), json_value, min_size=1, max_size=2),
        label="spoilt",
    )
    body = {**valid, **spoilt}
    method = "patch" if url.count("/") == 5 and "customers/" in url else "post"
    response = getattr(world["api"], method)(url, json.dumps(body), content_type="application/json")
    assert response.status_code < 500, (url, body, response.content[:300])


@FUZZ
@given(data=st.data())
def test_api_list_filters_never_answer_500(world, data):
    url, params = data.draw(st.sampled_from(LISTS), label="list")
    query = data.draw(st.dictionaries(st.sampled_from(params), form_value, max_size=3))
    response = world["api"].get(url, query)
    assert response.status_code < 500, (url, query, response.content[:300])


def _form_cases(w):
    v, draft, invoiced = w["vehicle"], w["draft"], w["invoiced"]
    customer = {"name": "王五", "phone": "13800138000"}
    return [
        ("/customers/new/", customer, list(_customer_fields())),
        (f"/customers/{v.owner_id}/edit/", customer, list(_customer_fields())),
        (
            f"/customers/{v.owner_id}/vehicles/new/",
            {"vin": make_vin(8), "plate": "沪C11111"},
            list(_vehicle_fields()),
        ),
        (
            f"/customers/vehicles/{v.pk}/mileage/",
            {"km": "20000", "read_on": str(timezone.localdate())},
            list(MileageForm.base_fields),
        ),
        (
            "/appointments/book/",
            {"vehicle": str(v.pk), "slot": f"{_soon(days=1)}|{w['advisor'].pk}"},
            ["vehicle", "slot", "estimated_hours", "services", "source", "channel", "notes"],
        ),
        (f"/ro/{draft.pk}/estimate/", {}, list(EstimateForm.base_fields)),
        (
            f"/ro/{draft.pk}/authorize/",
            {"channel": "phone", "customer_name": "王五", "promised_at": _soon(hours=6)[:16]},
            list(AuthorizeForm.base_fields),
        ),
        (
            f"/ro/{invoiced.pk}/deliver/",
            {"payment_method": "cash", **dict.fromkeys(HANDOVER_ALL, "on")},
            list(DeliverForm.base_fields),
        ),
        (f"/ro/{draft.pk}/do/record-delay/", {}, list(DelayForm.base_fields)),
    ]


@FUZZ
@given(data=st.data())
def test_html_forms_never_answer_500(world, client, data):
    client.force_login(world["advisor"])
    url, valid, fields = data.draw(st.sampled_from(_form_cases(world)), label="form")
    spoilt = data.draw(st.dictionaries(st.sampled_from(fields), form_value, min_size=1, max_size=2))
    body = {**valid, **spoilt}
    response = client.post(url, body)
    assert response.status_code < 500, (url, body)


@FUZZ
@given(data=st.data())
def test_html_page_queries_never_answer_500(world, client, data):
    client.force_login(world["advisor"])
    url = data.draw(
        st.sampled_from(
            [
                "/customers/",
                "/customers/lookup/",
                "/appointments/",
                "/appointments/week/",
                "/appointments/day/",
                "/ro/",
                "/care/",
                "/care/due.csv",
                "/search/",
                "/followups/",
                "/ro/a/x/",
            ]
        )
    )
    names = ["q", "date", "month", "status", "start", "page", "days", "tab"]
    query = data.draw(st.dictionaries(st.sampled_from(names), form_value, max_size=3))
    response = client.get(url, query)
    assert response.status_code < 500, (url, query)


def test_every_special_value_in_every_api_field_is_not_a_500(world):
    """The deterministic half: each hand-picked hostile value in each field of each endpoint
    (random search rarely hits one exact string in one field)."""
    world["api"].raise_request_exception = False  # collect them all
    failures = []
    for url, valid, fields in _api_cases(world):
        method = "patch" if url.count("/") == 5 and "customers/" in url else "post"
        for field in fields:
            for value in [*SPECIAL, 2**70, -1, 1.5, [], {}, [[[]]], True, None]:
                body = {**valid, field: value}
                response = getattr(world["api"], method)(
                    url, json.dumps(body), content_type="application/json"
                )
                if response.status_code >= 500:
                    failures.append((url, field, value, response.status_code))
    assert failures == []


def test_every_special_value_in_every_form_field_is_not_a_500(world, client):
    client.force_login(world["advisor"])
    client.raise_request_exception = False
    failures = []
    for url, valid, fields in _form_cases(world):
        for field in fields:
            for value in FORM_SPECIAL:
                response = client.post(url, {**valid, field: value})
                if response.status_code >= 500:
                    failures.append((url, field, value, response.status_code))
    assert failures == []
