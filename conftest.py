"""Suite-wide fixtures: the real-service switches, users with roles, and API clients."""

import os

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_skipped: dict[str, int] = {}


def pytest_configure(config):
    if IN_CI and not (settings.HAVE_POSTGRES and settings.HAVE_REDIS):
        missing = [
            n
            for n, ok in (("Postgres", settings.HAVE_POSTGRES), ("Redis", settings.HAVE_REDIS))
            if not ok
        ]
        raise pytest.UsageError(
            f"CI=true but {', '.join(missing)} is not reachable on 127.0.0.1: "
            "the suite must run against the real services in CI."
        )


def pytest_collection_modifyitems(config, items):
    reasons = {
        "postgres": (settings.HAVE_POSTGRES, "needs Postgres on 127.0.0.1:5432 (not reachable)"),
        "redis": (settings.HAVE_REDIS, "needs Redis on 127.0.0.1:6379 (not reachable)"),
        "browser": (
            os.path.exists("/usr/bin/chromium"),
            "needs /usr/bin/chromium (apt-get install chromium)",
        ),
    }
    for item in items:
        for marker, (available, reason) in reasons.items():
            if marker in item.keywords and not available:
                if IN_CI:
                    continue  # never skip in CI: let it fail loudly
                item.add_marker(pytest.mark.skip(reason=reason))
                _skipped[reason] = _skipped.get(reason, 0) + 1


def pytest_terminal_summary(terminalreporter):
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    terminalreporter.write_line(
        f"DMS-lite test run {settings.RUN_ID}: database={db}, "
        f"broker={'redis' if settings.HAVE_REDIS else 'memory'}"
    )
    for reason, count in _skipped.items():
        terminalreporter.write_line(f"SKIPPED {count} test(s): {reason}", yellow=True)


@pytest.fixture(autouse=True)
def _language_restored():
    """Each test ends in the settings' language: a page requested in Chinese (language cookie or
    header) leaves Chinese active in the test's thread, since LocaleMiddleware activates the
    request's language and does not deactivate it; later tests would read Chinese messages."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def site(db):
    from dms.tests.factories import SiteFactory

    return SiteFactory()


@pytest.fixture
def make_user(db, site):
    from dms.tests.factories import make_staff

    def _make(role: str | None = None, *, username: str | None = None, at_site=None, **kwargs):
        return make_staff(role=role, site=at_site or site, username=username, **kwargs)

    return _make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def api_as(make_user):
    """`api_as("advisor")` → an APIClient authenticated as a new user with that role."""
    from rest_framework.test import APIClient

    def _client(role: str | None = None, user=None):
        client = APIClient()
        client.force_authenticate(user or make_user(role))
        return client

    return _client


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Wraps pytest-django's test database: before it is dropped, close the connections that live
    servers, browsers and worker processes left open, so the drop succeeds and nothing is left."""
    yield
    with django_db_blocker.unblock():
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (the bundled browsers cannot be downloaded here).

    One per test run for every app's browser tests: Playwright's sync API keeps an event loop
    running in the thread while it is open, so a second one in the same run cannot start."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip("needs /usr/bin/chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
