"""The API tokens page in a browser, from the user menu: a manager issues a token (shown once,
copied), sees a colleague's and revokes it after confirming; in both languages on a tablet."""

import pytest
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_a_manager_issues_a_token_and_revokes_a_colleagues(lang, live_server, login_page):
    site = SiteFactory()
    manager = make_staff(
        role=Role.MANAGER, site=site, username="boss", first_name="敏", last_name="王"
    )
    advisor = make_staff(
        role=Role.ADVISOR, site=site, username="desk", first_name="娜", last_name="李"
    )
    Token.objects.create(user=advisor)
    page = login_page("boss", lang=lang, viewport={"width": 1024, "height": 768})
    page.on("dialog", lambda dialog: dialog.accept())

    page.locator("details.usermenu summary").click()
    page.locator("a[href='/account/tokens/']").click()
    expect(page.locator("#no-token")).to_be_visible()
    page.click("#issue-token")
    key = Token.objects.get(user=manager).key
    expect(page.locator("#new-token code")).to_have_text(key)
    screenshot(page, f"api-tokens-{lang}")

    page.locator(f"#token-{advisor.pk} button").click()
    expect(page.locator(f"#token-{advisor.pk}")).to_have_count(0)
    assert not Token.objects.filter(user=advisor).exists()
    assert Token.objects.filter(user=manager, key=key).exists()
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)  # shown once
    expect(page.locator(f"#token-{manager.pk} code")).to_have_text(f"{key[:4]}…")
