"""The Content-Security-Policy holds on every page: each demo role visits every page of its
menu (and the manager the admin and the API docs, anyone the login and password pages, the
customer the approval link) in Chromium, which reports no violation and no script error."""

import pytest
from django.core.management import call_command

from dms.demo import DEMO_PASSWORD, DEMO_STAFF
from workorders.models import ROStatus
from workorders.tests.factories import ro_in_state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} `
    + `at ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watcher:
    """Collects CSP violations (the DOM event and Chromium's console report) and script errors
    of every page a browser context opens."""

    def __init__(self, context):
        self.problems: list[str] = []
        context.add_init_script(RECORD_VIOLATIONS)
        context.on("page", self.watch)

    def watch(self, page):
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda exc: self.problems.append(f"{page.url}: script error {exc}"))

    def _console(self, page, msg):
        source = (msg.location or {}).get("url", "")
        if msg.type == "error" and not source.endswith("/favicon.ico"):
            self.problems.append(f"{page.url}: console error {msg.text} ({source})")

    def visit(self, page, url: str) -> None:
        response = page.goto(url)
        assert response is not None, url
        assert response.status < 400, (url, response.status)
        page.wait_for_load_state("networkidle")
        for violation in page.evaluate("window.__cspViolations || []"):
            self.problems.append(f"{url}: {violation}")


@pytest.fixture
def demo(db):
    call_command("load_demo", verbosity=0)


def _new_context(browser, live_server):
    context = browser.new_context(locale="en-US", viewport={"width": 1366, "height": 900})
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    return context


def _log_in(watcher, page, live_server, username):
    watcher.visit(page, f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state("networkidle")
    assert "/login/" not in page.url, f"{username} could not log in"


def test_every_page_keeps_the_content_security_policy(live_server, browser, demo):
    from customers.models import Customer
    from dms.models import Site
    from workorders.models import RepairOrder
    from workorders.services import approval_link_create

    site = Site.objects.get(code="demo")
    ro = RepairOrder.objects.filter(site=site).order_by("pk").first()
    visited: dict[str, set[str]] = {}
    problems: list[str] = []

    for username, *_names in DEMO_STAFF:
        context = _new_context(browser, live_server)
        watcher = Watcher(context)
        page = context.new_page()
        page.set_default_timeout(20000)
        _log_in(watcher, page, live_server, username)
        menu = page.eval_on_selector_all("nav.mainnav a", "links => links.map(a => a.href)")
        assert menu, f"{username} has no menu"
        pages = [*menu, f"{live_server.url}/ro/{ro.pk}/", f"{live_server.url}/password/change/"]
        if username == "manager":
            customer = Customer.objects.filter(site=site).first()
            pages += [
                f"{live_server.url}/ro/{ro.pk}/print/",
                f"{live_server.url}/admin/",
                f"{live_server.url}/admin/customers/customer/",
                f"{live_server.url}/admin/customers/customer/{customer.pk}/change/",
                f"{live_server.url}/admin/dms/site/{site.pk}/change/",
                f"{live_server.url}/api/v1/docs/",
            ]
        for url in pages:
            watcher.visit(page, url)
        visited[username] = set(pages)
        problems += watcher.problems
        context.close()

    # a visitor: the login and password pages; a customer: the private approval link
    waiting = ro_in_state(ROStatus.WAITING_APPROVAL, site=site)
    link = approval_link_create(repair_order_id=waiting.pk, actor=waiting.advisor)
    context = _new_context(browser, live_server)
    watcher = Watcher(context)
    page = context.new_page()
    from portal import services as portal

    status = portal.link_token(portal.status_link_current(repair_order=waiting))
    customer_pages = (f"/p/book/{site.code}/", f"/p/s/{status}/")
    for path in ("/login/", "/password/reset/", f"/ro/a/{link.token}/", *customer_pages):
        watcher.visit(page, f"{live_server.url}{path}")
    problems += watcher.problems
    context.close()

    assert len(visited) == len(DEMO_STAFF)
    assert not problems, "\n".join(problems)


def test_the_policy_header_is_strict_for_scripts_and_styles(client):
    header = client.get("/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in header.split(";") if d.strip())
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def test_an_injected_inline_script_is_blocked(live_server, browser, demo):
    """The policy is enforced, not only sent: an inline script on one of our pages (as an
    injection would add) does not run, and the browser reports it."""
    context = _new_context(browser, live_server)
    watcher = Watcher(context)
    page = context.new_page()
    watcher.visit(page, f"{live_server.url}/login/")
    page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__ran = true'; document.body.appendChild(s); }"""
    )
    assert page.evaluate("window.__ran === undefined")
    assert page.evaluate("window.__cspViolations.length") == 1
    # and an injected style attribute is not applied
    page.evaluate(
        """() => { const d = document.createElement('div'); d.id = 'injected';
                   d.setAttribute('style', 'display:none'); document.body.appendChild(d); }"""
    )
    assert page.evaluate("getComputedStyle(document.getElementById('injected')).display") != "none"
    assert page.evaluate("window.__cspViolations.length") == 2
    context.close()
