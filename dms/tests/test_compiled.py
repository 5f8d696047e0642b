"""dms.compiled: a read compiled once answers what its queryset answers, and where the compiled
select is not the declared layout (or its columns need converters) the queryset is read."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dms.api.authentication import TokenAuthentication, _token_read
from dms.compiled import TEXT_PLACEHOLDER, CompiledRead
from dms.models import Role, Site, StaffRole
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def _roles(user_id):
    return StaffRole.objects.filter(user_id=user_id).select_related("site")


def test_rows_are_the_querysets_instances_and_annotations(make_user, site):
    user = make_user(Role.ADVISOR)
    StaffRole.objects.create(user=user, site=SiteFactory(), role=Role.MANAGER)
    read = CompiledRead(
        StaffRole,
        lambda uid: _roles(uid).annotate(site_name=F("site__name")).order_by("pk"),
        layout=(StaffRole, "site_name", Site),
    )
    assert read.compiled("default")
    rows = read.rows(user.pk)
    expected = list(read.build(user.pk))
    assert [(r.pk, r.role, name, s.pk, s.name) for r, name, s in rows] == [
        (e.pk, e.role, e.site_name, e.site.pk, e.site.name) for e in expected
    ]
    assert read.rows(-1) == []


def test_a_layout_that_is_not_the_select_is_read_through_the_queryset(make_user, site):
    user = make_user(Role.ADVISOR)
    # the related site's columns come after the role's: declared the other way round
    wrong = CompiledRead(StaffRole, _roles, layout=(Site, StaffRole))
    assert not wrong.compiled("default")
    assert wrong.rows(user.pk) is None
    # a placeholder the filter turns into another value is never found: not compiled
    text = CompiledRead(StaffRole, _roles, layout=(StaffRole, Site), placeholder=TEXT_PLACEHOLDER)
    assert not text.compiled("default")


def test_the_token_read_is_compiled_and_authenticates_with_the_users_roles(make_user, site):
    user = make_user(Role.ADVISOR)
    closed = SiteFactory(is_active=False)
    StaffRole.objects.create(user=user, site=closed, role=Role.MANAGER)
    token = Token.objects.create(user=user)
    assert _token_read().compiled("default")
    with CaptureQueriesContext(connection) as ctx:
        got_user, got_token = TokenAuthentication().authenticate_credentials(token.key)
        username = got_token.user.username
    assert len(ctx.captured_queries) == 1
    assert (got_user.pk, got_token.pk, username) == (user.pk, token.key, user.username)
    # the role at the closed site counts for nothing
    assert got_user._dms_roles == {site.pk: {Role.ADVISOR}}
    # the role's site row came with it, as the ORM reads it: the request's site needs no query
    assert list(got_user._dms_sites) == [site.pk]
    _assert_same_site(got_user._dms_sites[site.pk], Site.objects.get(pk=site.pk))
    # a user without roles is one row: known, with no roles
    other = make_user(None)
    other_token = Token.objects.create(user=other)
    other_user, _token = TokenAuthentication().authenticate_credentials(other_token.key)
    assert (other_user.pk, other_user._dms_roles) == (other.pk, {})


def _assert_same_site(got, expected):
    assert [getattr(got, f.attname) for f in Site._meta.concrete_fields] == [
        getattr(expected, f.attname) for f in Site._meta.concrete_fields
    ]
    assert got.tzinfo == expected.tzinfo


def test_the_token_read_answers_the_same_through_the_queryset(make_user, site, monkeypatch):
    """Where the statement is not compiled (SQLite under `make run`), the queryset's rows give
    the same user, roles and site rows."""
    user = make_user(Role.ADVISOR)
    StaffRole.objects.create(user=user, site=site, role=Role.QC_INSPECTOR)
    token = Token.objects.create(user=user)
    monkeypatch.setattr(_token_read(), "_compiled", {"default": None})
    assert not _token_read().compiled("default")
    with CaptureQueriesContext(connection) as ctx:
        got_user, got_token = TokenAuthentication().authenticate_credentials(token.key)
    assert len(ctx.captured_queries) == 1
    assert (got_user.pk, got_token.pk) == (user.pk, token.key)
    assert got_user._dms_roles == {site.pk: {Role.ADVISOR, Role.QC_INSPECTOR}}
    _assert_same_site(got_user._dms_sites[site.pk], Site.objects.get(pk=site.pk))


def test_the_requests_site_is_read_compiled_as_the_orm_reads_it(site):
    from dms.permissions import _site_read, site_by_id

    assert _site_read().compiled("default") == (connection.vendor == "postgresql")
    with CaptureQueriesContext(connection) as ctx:
        got = site_by_id(site.pk)
    assert len(ctx.captured_queries) == 1
    _assert_same_site(got, Site.objects.get(pk=site.pk))
    with pytest.raises(Site.DoesNotExist):
        site_by_id(site.pk + 10_000)


def test_an_api_call_with_a_token_reads_its_site_with_the_token(make_user, site):
    """Availability works on the token user's site: the site's row comes with the token's read,
    never as a query of its own."""
    from django.test import Client

    user = make_user(Role.ADVISOR)
    StaffRole.objects.create(user=user, site=SiteFactory(), role=Role.ADVISOR)
    token = Token.objects.create(user=user)
    day = (timezone.localdate() + timedelta(days=2)).isoformat()
    with CaptureQueriesContext(connection) as ctx:
        response = Client().get(
            f"/api/v1/appointments/availability/?date={day}&hours=1.0",
            HTTP_AUTHORIZATION=f"Token {token.key}",
            HTTP_X_SITE=str(site.pk),
        )
    assert response.status_code == 200, response.content
    site_reads = [
        q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "dms_site"."id"')
    ]
    assert site_reads == []
    assert 'FROM "authtoken_token"' in ctx.captured_queries[0]["sql"]
