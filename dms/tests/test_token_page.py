"""The API tokens page: the owner sees, renews and revokes their token; a manager revokes those
of the people at their sites and no one else's; a new token is shown once."""

import pytest
from rest_framework.authtoken.models import Token

from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    site, other_site = SiteFactory(), SiteFactory()
    return {
        "manager": make_staff(role=Role.MANAGER, site=site, username="boss"),
        "advisor": make_staff(role=Role.ADVISOR, site=site, username="desk"),
        "stranger": make_staff(role=Role.ADVISOR, site=other_site, username="elsewhere"),
    }


def test_a_person_issues_a_token_sees_it_once_and_then_only_its_start(client, people):
    advisor = people["advisor"]
    client.force_login(advisor)
    page = client.get("/account/tokens/")
    assert page.status_code == 200
    assert 'id="no-token"' in page.content.decode()

    issued = client.post("/account/tokens/new/")
    token = Token.objects.get(user=advisor)
    html = issued.content.decode()
    assert issued["Cache-Control"] == "no-store"
    assert token.key in html  # shown once, on the answer

    again = client.get("/account/tokens/").content.decode()
    assert token.key not in again
    assert f"{token.key[:4]}…" in again

    client.post("/account/tokens/new/")  # a new one: the old key stops working
    assert not Token.objects.filter(key=token.key).exists()
    assert Token.objects.filter(user=advisor).count() == 1


def test_the_owner_revokes_their_token(client, people):
    advisor = people["advisor"]
    Token.objects.create(user=advisor)
    client.force_login(advisor)
    answer = client.post(f"/account/tokens/{advisor.pk}/revoke/", follow=True)
    assert "no longer works" in answer.content.decode()
    assert not Token.objects.filter(user=advisor).exists()


def test_a_manager_revokes_tokens_at_their_sites_and_no_others(client, people):
    for person in people.values():
        Token.objects.create(user=person)
    client.force_login(people["manager"])
    html = client.get("/account/tokens/").content.decode()
    assert 'id="staff-tokens"' in html
    assert "desk" in html
    assert "elsewhere" not in html

    client.post(f"/account/tokens/{people['advisor'].pk}/revoke/")
    assert not Token.objects.filter(user=people["advisor"]).exists()
    refused = client.post(f"/account/tokens/{people['stranger'].pk}/revoke/", follow=True)
    assert "No such token" in refused.content.decode()
    assert Token.objects.filter(user=people["stranger"]).exists()


def test_an_advisor_cannot_revoke_a_colleagues_token(client, people):
    Token.objects.create(user=people["manager"])
    client.force_login(people["advisor"])
    assert "staff-tokens" not in client.get("/account/tokens/").content.decode()
    client.post(f"/account/tokens/{people['manager'].pk}/revoke/")
    assert Token.objects.filter(user=people["manager"]).exists()


def test_the_page_needs_a_sign_in_and_changes_only_by_post(client, people):
    assert client.get("/account/tokens/").status_code == 302
    client.force_login(people["advisor"])
    assert client.get("/account/tokens/new/").status_code == 405
    assert not Token.objects.filter(user=people["advisor"]).exists()
