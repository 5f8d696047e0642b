"""One permission layer for pages and APIs: roles per site, managers everywhere at their site."""

import pytest
from django.urls import reverse

from dms.exceptions import PermissionDeniedError
from dms.models import Role
from dms.permissions import has_role, require_role, scope, site_ids_of
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", Role.values)
def test_each_role_holds_only_its_own_role(make_user, site, role):
    user = make_user(role)
    for other in Role.values:
        expected = other == role or role == Role.MANAGER
        assert has_role(user, site, other) is expected, (role, other)


def test_a_role_at_one_site_gives_nothing_at_another(make_user, site):
    other_site = SiteFactory()
    advisor = make_user(Role.ADVISOR)
    assert has_role(advisor, site, Role.ADVISOR)
    assert not has_role(advisor, other_site, Role.ADVISOR)
    assert site_ids_of(advisor) == [site.pk]


def test_require_role_names_the_missing_role(make_user, site):
    agent = make_user(Role.FOLLOWUP_AGENT)
    with pytest.raises(PermissionDeniedError, match="Service advisor"):
        require_role(agent, site, Role.ADVISOR)


def test_scope_limits_querysets_to_the_users_sites(make_user, site):
    from dms.models import Site

    SiteFactory()
    user = make_user(Role.ADVISOR)
    assert list(scope(Site.objects.all(), user, field="id")) == [site]


def test_unauthenticated_pages_redirect_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_and_a_wrong_password_says_so(client, make_user):
    make_user(Role.ADVISOR, username="amy")
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post(reverse("login"), {"username": "amy", "password": "wrong"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_a_user_without_any_role_sees_the_no_role_page(client, make_user):
    user = make_user(None)
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"no role at any site" in response.content


def test_the_api_requires_authentication(api_client):
    response = api_client.get("/api/v1/")
    assert response.status_code == 401
    assert response.json()["message"]


def test_api_root_lists_my_sites_and_roles(api_as, site):
    response = api_as(Role.DISPATCHER).get("/api/v1/")
    assert response.status_code == 200
    assert response.json()["sites"] == [
        {"id": site.pk, "code": site.code, "name": site.name, "roles": ["dispatcher"]}
    ]


def test_the_site_switcher_lists_the_sites_of_someone_at_two(client, make_user, site):
    from dms.models import StaffRole

    second = SiteFactory(name="Second rooftop")
    advisor = make_user(Role.ADVISOR)
    StaffRole.objects.create(user=advisor, site=second, role=Role.ADVISOR)
    client.force_login(advisor)
    html = client.get(reverse("workorders:list")).content.decode()
    assert reverse("switch_site") in html
    assert f'<option value="{site.pk}" selected>{site.name}</option>' in html
    assert f'<option value="{second.pk}" >{second.name}</option>' in html


def test_someone_at_one_site_gets_no_switcher_and_no_read_of_the_sites(client, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(make_user(Role.ADVISOR))
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("workorders:list")).content.decode()
    assert reverse("switch_site") not in html
    # the site row itself is read with the user; no list of sites for a menu without a switcher
    assert not [q for q in queries.captured_queries if q["sql"].startswith('SELECT "dms_site"')]
