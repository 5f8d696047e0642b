"""A retried API write with the same Idempotency-Key runs once and gets the same answer."""

import pytest

from customers.models import Customer
from dms.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_client(make_user):
    """An API client that authenticates as a real client does: with a token header."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token = Token.objects.create(user=make_user(Role.ADVISOR))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _post(client, key, name="李雷"):
    return client.post(
        "/api/v1/customers/",
        {"name": name, "phone": "13812345678"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_retry_with_the_same_key_is_replayed_not_run_again(token_client):
    client = token_client
    first = _post(client, "booking-7f3a")
    assert first.status_code == 201, first.content
    again = _post(client, "booking-7f3a")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.filter(name="李雷").count() == 1


def test_the_same_key_with_a_different_body_is_refused(token_client):
    client = token_client
    assert _post(client, "k-1").status_code == 201
    response = _post(client, "k-1", name="韩梅梅")
    assert response.status_code == 422
    assert "different request" in response.json()["message"]
    assert not Customer.objects.filter(name="韩梅梅").exists()


def test_without_a_key_every_request_runs(token_client):
    client = token_client
    for _ in range(2):
        client.post("/api/v1/customers/", {"name": "张三", "phone": "13900000000"}, format="json")
    assert Customer.objects.filter(name="张三").count() == 2


def test_a_rejected_request_is_replayed_as_rejected(token_client):
    client = token_client
    bad = client.post(
        "/api/v1/customers/", {"name": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-bad"
    )
    assert bad.status_code == 400
    again = client.post(
        "/api/v1/customers/", {"name": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-bad"
    )
    assert again.status_code == 400
    assert again.json() == bad.json()
