"""Sign-in protection: lockout per account and per address on the login page and the token
exchange; API tokens that expire, are listed, revoked and rotated; password reset and change."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff

pytestmark = pytest.mark.django_db

PASSWORD = "pw-test-123"


@pytest.fixture
def axes_on(settings):
    """The test settings switch the lockout off (the test client's login() has no request);
    these tests switch it on, with a small limit."""
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    return settings


def _login(client, username, password, addr="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=addr
    )


def _token(username, password, addr="10.0.0.1"):
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=addr,
    )


# --- lockout ---------------------------------------------------------------------------------
def test_forty_wrong_passwords_lock_the_account_on_the_login_page(client, make_user, axes_on):
    user = make_user(Role.ADVISOR, username="lina")
    statuses = [_login(client, "lina", f"wrong-{n}").status_code for n in range(40)]
    assert statuses[:4] == [200] * 4  # the form again, with its error
    assert set(statuses[5:]) == {429}
    # then the right password does not open the account either, from any address
    response = _login(client, "lina", PASSWORD, addr="10.9.9.9")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # and the token exchange is locked for the same account
    assert _token("lina", PASSWORD, addr="10.8.8.8").status_code == 429
    assert user.is_active


def test_failures_from_one_address_lock_that_address(client, make_user, axes_on):
    make_user(Role.ADVISOR, username="lina")
    for n in range(6):
        _login(client, f"guess{n}", "wrong", addr="10.0.0.66")
    # the address is locked even for a real account and password …
    assert _login(client, "lina", PASSWORD, addr="10.0.0.66").status_code == 429
    # … while the account still signs in from elsewhere
    response = _login(client, "lina", PASSWORD, addr="10.0.0.7")
    assert response.status_code == 302


def test_the_token_endpoint_counts_and_locks(make_user, axes_on):
    make_user(Role.ADVISOR, username="lina")
    first = _token("lina", "wrong")
    assert first.status_code == 401  # a wrong password, while not locked
    for _n in range(5):
        _token("lina", "wrong")
    response = _token("lina", PASSWORD)
    assert response.status_code == 429
    body = response.json()
    assert "Too many failed sign-ins" in body["message"]
    assert "token" not in body
    assert int(response["Retry-After"]) > 0


def test_behind_a_proxy_the_forwarded_address_is_counted(client, make_user, axes_on):
    axes_on.TRUSTED_PROXY_COUNT = 1
    make_user(Role.ADVISOR, username="lina")
    for n in range(6):
        client.post(
            reverse("login"),
            {"username": f"guess{n}", "password": "x"},
            REMOTE_ADDR="10.0.0.1",  # the proxy
            HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9",  # a forged entry, then the client
        )
    locked = client.post(
        reverse("login"),
        {"username": "lina", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert locked.status_code == 429
    other = client.post(
        reverse("login"),
        {"username": "lina", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.20",
    )
    assert other.status_code == 302


def test_the_admin_login_is_protected_too(client, make_user, axes_on):
    make_user(Role.MANAGER, username="boss", is_staff=True)
    for _n in range(6):
        client.post("/admin/login/", {"username": "boss", "password": "x"}, REMOTE_ADDR="10.1.1.1")
    response = client.post(
        "/admin/login/", {"username": "boss", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2"
    )
    assert response.status_code == 429


def test_the_lockout_page_speaks_chinese(client, make_user, axes_on):
    make_user(Role.ADVISOR, username="lina")
    client.cookies["django_language"] = "zh-hans"
    for _n in range(6):
        response = _login(client, "lina", "wrong")
    assert response.status_code == 429
    assert "登录失败次数过多" in response.content.decode()


# --- API tokens ------------------------------------------------------------------------------
def _auth(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_expires_after_the_configured_days(make_user, settings):
    settings.API_TOKEN_DAYS = 30
    user = make_user(Role.ADVISOR, username="lina")
    key = _token("lina", PASSWORD).json()["token"]
    assert _auth(key).get("/api/v1/").status_code == 200
    Token.objects.filter(user=user).update(created=timezone.now() - timedelta(days=31))
    response = _auth(key).get("/api/v1/")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]
    # signing in again issues a new one, which works
    new_key = _token("lina", PASSWORD).json()["token"]
    assert new_key != key
    assert _auth(new_key).get("/api/v1/").status_code == 200


def test_signing_in_again_returns_the_valid_token(make_user):
    make_user(Role.ADVISOR, username="lina")
    assert _token("lina", PASSWORD).json()["token"] == _token("lina", PASSWORD).json()["token"]


def test_rotation_issues_a_new_token_and_ends_the_old(make_user):
    make_user(Role.ADVISOR, username="lina")
    old = _token("lina", PASSWORD).json()["token"]
    response = _auth(old).post("/api/v1/auth/tokens/rotate/")
    assert response.status_code == 200
    new = response.json()["token"]
    assert new != old
    assert response.json()["expires_at"]
    assert _auth(old).get("/api/v1/").status_code == 401
    assert _auth(new).get("/api/v1/").status_code == 200


def test_owner_lists_and_revokes_their_token(make_user):
    user = make_user(Role.ADVISOR, username="lina")
    key = _token("lina", PASSWORD).json()["token"]
    rows = _auth(key).get("/api/v1/auth/tokens/").json()
    assert [r["username"] for r in rows] == ["lina"]
    assert rows[0]["hint"] == key[:4]
    assert key not in str(rows)
    assert _auth(key).delete(f"/api/v1/auth/tokens/{user.pk}/").status_code == 204
    assert _auth(key).get("/api/v1/").status_code == 401


def test_a_manager_lists_and_revokes_tokens_of_their_site_only(site, make_user):
    manager = make_user(Role.MANAGER, username="boss")
    advisor = make_user(Role.ADVISOR, username="lina")
    elsewhere = make_staff(role=Role.ADVISOR, site=SiteFactory(), username="far")
    for username in ("boss", "lina", "far"):
        _token(username, PASSWORD)
    client = _auth(Token.objects.get(user=manager).key)
    listed = {r["username"] for r in client.get("/api/v1/auth/tokens/").json()}
    assert listed == {"boss", "lina"}
    assert client.delete(f"/api/v1/auth/tokens/{elsewhere.pk}/").status_code == 404
    assert Token.objects.filter(user=elsewhere).exists()
    assert client.delete(f"/api/v1/auth/tokens/{advisor.pk}/").status_code == 204
    assert not Token.objects.filter(user=advisor).exists()


def test_a_non_manager_cannot_revoke_a_colleagues_token(make_user):
    make_user(Role.ADVISOR, username="lina")
    colleague = make_user(Role.ADVISOR, username="lei")
    _token("lei", PASSWORD)
    client = _auth(_token("lina", PASSWORD).json()["token"])
    assert {r["username"] for r in client.get("/api/v1/auth/tokens/").json()} == {"lina"}
    assert client.delete(f"/api/v1/auth/tokens/{colleague.pk}/").status_code == 404
    assert Token.objects.filter(user=colleague).exists()


# --- password reset and change ---------------------------------------------------------------
def test_password_reset_by_email(client, make_user, settings):
    settings.DMS_PUBLIC_BASE_URL = "https://dms.example.com"
    make_user(Role.ADVISOR, username="lina", email="lina@example.com")
    page = client.get(reverse("password_reset"))
    assert page.status_code == 200
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
    response = client.post(
        reverse("password_reset"), {"email": "lina@example.com"}, HTTP_HOST="evil.example"
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = re.search(r"https://dms\.example\.com(/password/reset/\S+/)", body)
    assert link, body
    assert "evil.example" not in body
    # the link leads to a form for the new password (Django redirects to a session URL)
    form = client.get(link.group(1), follow=True)
    assert form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-secret-9", "new_password2": "a-new-secret-9"},
    )
    assert done.status_code == 302
    assert client.login(username="lina", password="a-new-secret-9")


def test_a_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_change(client, make_user):
    user = make_user(Role.ADVISOR, username="lina")
    client.force_login(user)
    page = client.get(reverse("password_change"))
    assert page.status_code == 200
    assert 'href="/password/change/"' in page.content.decode()  # in the user menu
    wrong = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": "b-new-9999", "new_password2": "b-new-9999"},
    )
    assert wrong.status_code == 200
    assert wrong.context["form"].errors["old_password"]
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "b-new-9999", "new_password2": "b-new-9999"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("b-new-9999")


@pytest.mark.parametrize(("lang", "title"), [("en", "Reset password"), ("zh-hans", "重置密码")])
def test_the_password_pages_speak_both_languages(client, lang, title):
    client.cookies["django_language"] = lang
    assert title in client.get(reverse("password_reset")).content.decode()


def test_a_sign_in_without_a_request_is_not_counted_or_refused(client, make_user, axes_on):
    # a management command or the test client's login() has no address: nothing to lock
    make_user(Role.ADVISOR, username="lina")
    assert client.login(username="lina", password=PASSWORD)
    assert not client.login(username="lina", password="wrong")
