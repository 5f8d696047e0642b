"""The session's user comes with their roles and sites in one query (dms.signin.StaffBackend):
no query of their own for a page's role check or the site it works on."""

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dms.models import Role, StaffRole
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

LOOKUP = "/customers/lookup/?q=nobody"
HTMX = {"HTTP_HX_REQUEST": "true"}


def reads(ctx, table: str) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if f'FROM "{table}"' in q["sql"]]


def test_a_page_reads_the_user_their_roles_and_the_site_in_one_query(make_user, site):
    advisor = make_user(Role.ADVISOR)
    client = Client()
    client.force_login(advisor)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LOOKUP, **HTMX)
    assert response.status_code == 200
    # one query for the user, the roles and the site; no other reads any of them
    staff = [q["sql"] for q in ctx.captured_queries if '"auth_user"' in q["sql"]]
    assert len(staff) == 1, staff
    assert '"dms_staffrole"' in staff[0]
    assert '"dms_site"' in staff[0]
    assert reads(ctx, "dms_site") == []
    assert reads(ctx, "dms_staffrole") == staff


def test_a_role_at_a_deactivated_site_counts_for_nothing(make_user, site):
    advisor = make_user(Role.ADVISOR)
    closed = SiteFactory()
    StaffRole.objects.create(user=advisor, site=closed, role=Role.MANAGER)
    closed.is_active = False
    closed.save()
    client = Client()
    client.force_login(advisor)
    body = client.get("/api/v1/").json()
    assert [s["id"] for s in body["sites"]] == [site.pk]
    # asking for the closed site by its header is refused, not served
    assert client.get("/api/v1/repair-orders/", HTTP_X_SITE=str(closed.pk)).status_code == 400


def test_a_role_taken_away_counts_from_the_next_page(make_user, site):
    advisor = make_user(Role.ADVISOR)
    client = Client()
    client.force_login(advisor)
    assert client.get(LOOKUP, **HTMX).status_code == 200
    StaffRole.objects.filter(user=advisor).delete()
    assert client.get(LOOKUP, **HTMX).status_code == 403


def test_a_user_without_roles_and_a_superuser_are_still_known(make_user, site):
    client = Client()
    client.force_login(make_user(None))
    assert client.get("/api/v1/").json()["sites"] == []
    assert client.get(LOOKUP, **HTMX).status_code == 403
    boss = make_user(None, is_superuser=True, is_staff=True)
    client.force_login(boss)
    assert client.get(LOOKUP, **HTMX).status_code == 200


def test_an_inactive_users_session_is_signed_out(make_user, site):
    advisor = make_user(Role.ADVISOR)
    client = Client()
    client.force_login(advisor)
    advisor.is_active = False
    advisor.save()
    response = client.get("/customers/")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_a_session_signed_in_before_the_staff_backend_still_works(make_user, site):
    advisor = make_user(Role.ADVISOR)
    client = Client()
    client.force_login(advisor, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(LOOKUP, **HTMX).status_code == 200
    assert client.get("/dashboard/").status_code == 403  # the manager's page, by role


class CountingHasher(MD5PasswordHasher):
    """Django's MD5 hasher (the test settings' own), counting the passwords it checks."""

    checked = 0

    def verify(self, password, encoded):
        CountingHasher.checked += 1
        return super().verify(password, encoded)


def test_a_wrong_password_is_checked_once_and_refused(client, make_user, settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    advisor = make_user(Role.ADVISOR, username="li.lei")
    advisor.set_password("right-one")
    advisor.save()
    CountingHasher.checked = 0
    response = client.post("/login/", {"username": "li.lei", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert CountingHasher.checked == 1
    response = client.post("/login/", {"username": "li.lei", "password": "right-one"})
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == "dms.signin.StaffBackend"
    assert client.get(LOOKUP, **HTMX).status_code == 200


def _fields(instance) -> dict:
    return {k: v for k, v in instance.__dict__.items() if not k.startswith("_")}


def test_the_roles_read_from_the_compiled_statement_are_the_orms(make_user, site):
    from dms.signin import _staff_roles_read, staff_roles_with_user

    advisor = make_user(Role.ADVISOR, first_name="娜", last_name="李", email="li@example.com")
    second = SiteFactory(name="4S店 二")
    StaffRole.objects.create(user=advisor, site=second, role=Role.MANAGER, on_duty=False)
    other = make_user(Role.TECHNICIAN)
    expected = list(
        StaffRole.objects.filter(user_id=advisor.pk).select_related("user", "site").order_by("pk")
    )
    assert _staff_roles_read().compiled("default")  # Postgres: the compiled path, not the ORM's
    with CaptureQueriesContext(connection) as ctx:
        got = sorted(staff_roles_with_user(advisor.pk), key=lambda r: r.pk)
        # the user and the site come with each role: no query of their own
        pairs = [(r.user.username, r.site.name) for r in got]
    assert len(ctx.captured_queries) == 1
    assert pairs == [(advisor.username, site.name), (advisor.username, "4S店 二")]
    assert [_fields(r) for r in got] == [_fields(r) for r in expected]
    assert [_fields(r.user) for r in got] == [_fields(r.user) for r in expected]
    assert [_fields(r.site) for r in got] == [_fields(r.site) for r in expected]
    assert all(not r._state.adding and r._state.db == "default" for r in got)
    # another user's id reads that user's roles; an id with no roles reads none
    assert [r.user_id for r in staff_roles_with_user(other.pk)] == [other.pk]
    assert staff_roles_with_user(make_user(None).pk) == []


def test_where_the_compiled_statement_cannot_be_used_the_orm_reads_the_roles(
    make_user, site, monkeypatch
):
    from dms.signin import _staff_roles_read, staff_roles_with_user

    advisor = make_user(Role.ADVISOR)
    monkeypatch.setattr(_staff_roles_read(), "rows", lambda value: None)
    with CaptureQueriesContext(connection) as ctx:
        got = staff_roles_with_user(advisor.pk)
        assert got[0].site.pk == site.pk
    assert [r.user_id for r in got] == [advisor.pk]
    assert len(ctx.captured_queries) == 1
