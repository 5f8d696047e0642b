"""Language follows the user's choice, then the browser, then Simplified Chinese."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@override_settings(LANGUAGE_CODE="zh-hans")
def test_without_any_preference_the_page_is_in_chinese(client):
    assert "登录 DMS-lite" in client.get("/login/").content.decode()


@override_settings(LANGUAGE_CODE="zh-hans")
def test_the_browser_language_is_followed(client):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "Log in to DMS-lite" in page.content.decode()


@override_settings(LANGUAGE_CODE="zh-hans")
def test_the_switcher_choice_wins_over_the_browser(client):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/"})
    assert response.status_code == 302
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "登录 DMS-lite" in page.content.decode()
    assert 'option value="zh-hans" selected' in page.content.decode()
