"""Token authentication reads the user's roles with the token: one query, fresh every request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dms.models import Role, StaffRole
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_the_roles_come_with_the_token_in_one_query(make_user, site):
    # given a manager at two sites with a token
    manager = make_user(Role.MANAGER)
    StaffRole.objects.create(user=manager, site=SiteFactory(), role=Role.ADVISOR)
    client = token_client(manager)
    # when they list repair orders
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/repair-orders/")
    # then the role check passed without a query of its own for the roles
    assert response.status_code == 200
    role_queries = [q["sql"] for q in ctx.captured_queries if '"dms_staffrole"' in q["sql"]]
    assert len(role_queries) == 1
    assert '"authtoken_token"' in role_queries[0]
    # and the API root lists both sites with their roles
    sites = token_client(manager).get("/api/v1/").json()["sites"]
    assert sorted(s["roles"] for s in sites) == [["advisor"], ["manager"]]


def test_a_role_taken_away_counts_from_the_next_request(make_user, site):
    advisor = make_user(Role.ADVISOR)
    client = token_client(advisor)
    assert client.get("/api/v1/repair-orders/").status_code == 200
    StaffRole.objects.filter(user=advisor).delete()
    assert client.get("/api/v1/repair-orders/").status_code == 403


def test_a_user_without_roles_is_known_but_may_do_nothing(make_user):
    client = token_client(make_user(None))
    assert client.get("/api/v1/").json()["sites"] == []
    assert client.get("/api/v1/repair-orders/").status_code == 403


def test_a_wrong_token_or_an_inactive_user_is_a_401(make_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/v1/").status_code == 401
    user = make_user(Role.ADVISOR)
    client = token_client(user)
    user.is_active = False
    user.save()
    assert client.get("/api/v1/").status_code == 401
