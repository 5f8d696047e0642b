"""Fixtures for cross-app tests: a real headless Chromium (Playwright) against a live server."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (the bundled browsers cannot be downloaded here)."""
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


@pytest.fixture
def login_page(browser, live_server):
    """`login_page(username, password, lang="en", viewport=None)` → a logged-in Playwright page
    in its own browser context (its own cookies), so each role has its own session."""
    contexts = []

    def _login(username: str, password: str = "pw-test-123", *, lang: str = "en", viewport=None):
        context = browser.new_context(
            locale="en-US" if lang == "en" else "zh-CN",
            viewport=viewport or {"width": 1366, "height": 900},
        )
        context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button.primary")
        page.wait_for_load_state("networkidle")
        return page

    yield _login
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot to docs/screenshots/<name>.png (used by the user guide)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
