"""Token auth, the OpenAPI schema and offline docs, and the one JSON error shape."""

import pytest
from rest_framework.test import APIClient

from dms.exceptions import ApplicationError
from dms.models import Role

pytestmark = pytest.mark.django_db


def test_token_for_good_credentials_authenticates_later_calls(make_user):
    make_user(Role.ADVISOR, username="lina")
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": "lina", "password": "pw-test-123"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/").json()["user"] == "lina"


def test_token_with_a_wrong_password_is_a_401_naming_the_password(make_user):
    make_user(Role.ADVISOR, username="lina")
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "lina", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    body = response.json()
    assert body["message"] == "Wrong username or password."
    assert body["fields"] == {"password": ["Wrong username or password."]}


def test_token_with_missing_fields_lists_each_field():
    response = APIClient().post("/api/v1/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"username", "password"}


def test_schema_is_openapi_3_and_docs_are_served_without_a_cdn(api_as):
    client = api_as(Role.MANAGER)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()


def test_application_error_becomes_a_json_4xx():
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from dms.api.errors import exception_handler

    request = Request(APIRequestFactory().get("/"))
    error = ApplicationError("Odometer is lower than last time.", fields={"odometer_km": "Too low"})
    response = exception_handler(error, {"request": request})
    assert response.status_code == 400
    assert response.data == {
        "message": "Odometer is lower than last time.",
        "fields": {"odometer_km": ["Too low"]},
    }


def test_an_unknown_api_address_answers_json_404(api_as):
    response = api_as(Role.MANAGER).get("/api/v1/vehicles/0.5/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"message": "Not found.", "fields": {}}


def test_an_unknown_page_answers_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.content
