"""Playwright's sync API keeps an event loop running in the test thread; the ORM calls in these
tests are still plain synchronous code, so Django is told that is safe here."""

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a journey step fails, keep a picture of every open page in var/e2e-failures/."""
    outcome = yield
    report = outcome.get_result()
    browser = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or browser is None:
        return
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "var" / "e2e-failures"
    folder.mkdir(parents=True, exist_ok=True)
    for i, context in enumerate(browser.contexts):
        for j, page in enumerate(context.pages):
            try:
                page.screenshot(path=str(folder / f"{item.name}-{i}-{j}.png"), full_page=True)
            except Exception:  # noqa: S112 - a closed page has nothing to show
                continue
