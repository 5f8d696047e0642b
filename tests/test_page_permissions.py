"""Every page in the navigation is enforced on the server: the roles that see the link get the
page, every other role gets a 403 page that says which role it needs."""

import pytest
from django.urls import reverse

from dms.context_processors import NAV
from dms.models import Role

pytestmark = pytest.mark.django_db

CASES = [
    (url_name, role, role in allowed or role == Role.MANAGER)
    for _label, url_name, allowed in NAV
    for role in Role.values
]


@pytest.mark.parametrize(("url_name", "role", "allowed"), CASES)
def test_page_access_follows_the_role(client, make_user, url_name, role, allowed):
    client.force_login(make_user(role))
    response = client.get(reverse(url_name))
    if allowed:
        assert response.status_code == 200, (url_name, role)
    else:
        assert response.status_code == 403, (url_name, role, response.status_code)
        assert "needs the role" in response.content.decode()


@pytest.mark.parametrize("url_name", [name for _l, name, _r in NAV])
def test_pages_send_anonymous_visitors_to_login(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_navigation_shows_only_what_the_role_may_open(client, make_user):
    client.force_login(make_user(Role.QC_INSPECTOR))
    html = client.get(reverse("workshop:qc")).content.decode()
    assert reverse("workshop:qc") in html
    assert reverse("kpis:dashboard") not in html
    assert reverse("followups:desk") not in html
