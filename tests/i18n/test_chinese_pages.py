"""Every staff page in Chinese shows no English UI text: each role's pages of the demo
dealership are rendered with the Chinese language chosen, and the words a person reads (text,
placeholders, titles, labels, button values) are searched for English words. Data (car makes
and models, codes, numbers) is allowed; menu, headings, buttons, messages and errors are not."""

import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from dms.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _language_restored():
    """The pages leave Chinese active in this thread; later tests expect the test default."""
    language = translation.get_language()
    yield
    translation.activate(language)


# Words that are not English UI text: the product's name, units, codes, standards, formats.
ALLOWED = {
    "DMS",
    "lite",
    "VIN",
    "CNY",
    "RO",
    "km",
    "PDF",
    "CSV",
    "API",
    "SMS",
    "WeChat",
    "QC",
    "ABC",
    "PNG",
    "JSON",
    "OpenAPI",
    "Idempotency",
    "Key",
    "ISO",
    "OEM",
    "URL",
    "https",
    "http",
    "Asia",
    "Shanghai",
    "UTC",
    "GMT",
    "CST",
    "htmx",
    "AM",
    "PM",
    "Webhook",
}
ATTRS = ("placeholder", "title", "aria-label", "alt")
# Django's own admin strings that its Chinese catalog does not translate yet (screen-reader
# column headers of the admin's model list); ours are all checked.
DJANGO_UNTRANSLATED = ("Add link", "Change or view list link", "Model name")
WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")


class Reader(HTMLParser):
    """The text a person reads on the page, without scripts, styles and text marked as English
    content (lang="en", e.g. the English version of a customer message)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.stack: list[str] = []  # tags skipped: scripts, styles, text marked lang="en"

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        # a customer's English message shown beside the Chinese one is content, not UI
        foreign = (values.get("lang") or "zh").lower().startswith("en") and tag != "html"
        if (
            tag in ("script", "style")
            or foreign
            or (self.skip and tag == (self.stack[-1] if self.stack else None))
        ):
            self.skip += 1
            self.stack.append(tag)
        if self.skip:
            return
        if tag == "img" and "/admin/img/" in (values.get("src") or ""):
            return  # Django admin's yes/no icons carry alt="True"/"False" in every language
        for name in ATTRS:
            if values.get(name):
                self.parts.append(values[name])
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"])

    def handle_endtag(self, tag):
        if self.stack and tag == self.stack[-1]:
            self.stack.pop()
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    for phrase in DJANGO_UNTRANSLATED:
        html = html.replace(f">{phrase}<", "><")
    reader = Reader()
    reader.feed(html)
    return re.sub(r"\{[a-z_]+\}", " ", " ".join(reader.parts))  # message placeholders


def english_words(html: str, allowed: set[str]) -> set[str]:
    text = visible_text(html)
    return {w for w in WORD.findall(text) if w not in allowed and len(w) > 1}


def _around(html: str, word: str) -> str:
    i = re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", html)
    return html[max(0, i.start() - 40) : i.end() + 40].replace("\n", " ") if i else ""


def _data_words() -> set[str]:
    """Words that come from the demo's records, not from the UI: makes, models, names, codes."""
    from appointments.models import PartReservation
    from customers.models import Customer, Vehicle
    from dms.models import Site
    from workorders.models import JobLine, PartLine, RepairOrder

    words = {"English"}  # the language menu names each language in itself
    for row in RepairOrder.objects.values_list("number"):
        words |= set(WORD.findall(" ".join(row)))
    for row in Vehicle.objects.values_list(
        "make", "model", "colour", "plate", "vin", "engine_number"
    ):
        words |= set(WORD.findall(" ".join(row)))
    for row in Site.objects.values_list("name", "code"):
        words |= set(WORD.findall(" ".join(row)))
    for row in PartLine.objects.values_list("name", "part_number"):
        words |= set(WORD.findall(" ".join(row)))
    for row in PartReservation.objects.values_list("name", "part_number"):
        words |= set(WORD.findall(" ".join(row)))
    for name, email in Customer.objects.values_list("name", "email"):
        words |= set(WORD.findall(f"{name} {email}"))
    for code, desc in JobLine.objects.values_list("operation_code", "description"):
        words |= set(WORD.findall(f"{code} {desc}"))
    return words


def _pages() -> dict[str, list[str]]:
    from appointments.models import Appointment
    from customers.models import Customer, Vehicle
    from followups.models import CallTask, Complaint
    from workorders.models import RepairOrder

    ro = RepairOrder.objects.order_by("-id").first()
    customer = Customer.objects.order_by("id").first()
    vehicle = Vehicle.objects.order_by("id").first()
    appointment = Appointment.objects.order_by("id").first()
    complaint = Complaint.objects.order_by("id").first()
    task = CallTask.objects.filter(status="open").order_by("id").first()
    advisor = [
        "/appointments/",
        "/appointments/week/",
        f"/appointments/{appointment.pk}/",
        "/customers/",
        f"/customers/{customer.pk}/",
        f"/customers/vehicles/{vehicle.pk}/",
        "/customers/new/",
        "/ro/",
        "/ro/?tab=all",
        "/ro/approvals/",
        "/ro/ready/",
        "/ro/open/",
        f"/ro/{ro.pk}/",
        f"/ro/{ro.pk}/print/",
        f"/ro/{ro.pk}/intake/",
        f"/ro/{ro.pk}/estimate/",
        "/search/?q=沪",
        "/workshop/board/",
        "/followups/complaints/",
        "/care/",
        "/care/first-service/",
        "/appointments/board/",
        "/no-such-page/",
    ]
    if complaint:
        advisor.append(f"/followups/complaints/{complaint.pk}/")
    agent = ["/followups/", "/followups/complaints/", "/care/"]
    if task:
        agent.append(f"/followups/tasks/{task.pk}/")
    return {
        "advisor": advisor,
        "agent": agent,
        "tech": ["/workshop/technician/", "/workshop/board/"],
        "qc": ["/workshop/qc/"],
        "dispatcher": ["/workshop/board/"],
        "parts": ["/appointments/parts/"],
        "manager": [
            "/dashboard/",
            "/dashboard/?period=last_month",
            "/care/rules/",
            f"/admin/dms/site/{ro.site_id}/change/",
        ],
    }


def test_no_english_on_chinese_pages():
    # given the demo dealership and each role logged in with Chinese chosen
    call_command("load_demo", verbosity=0)
    allowed = ALLOWED | _data_words()
    found: dict[str, set[str]] = {}
    for username, paths in _pages().items():
        client = Client()
        client.cookies["django_language"] = "zh-hans"
        assert client.login(username=username, password=DEMO_PASSWORD), username
        for path in paths:
            # when the page is rendered
            response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans")
            assert response.status_code in (200, 404), (username, path, response.status_code)
            # then no English word shows
            html = response.content.decode()
            words = english_words(html, allowed)
            if words:
                text = " ".join(visible_text(html).split())
                found[f"{username} {path}"] = {f"{w} «{_around(text, w)}»" for w in words}
    assert not found, "\n".join(f"{page}: {sorted(words)}" for page, words in found.items())


def test_api_errors_in_chinese(client):
    # given a session of the demo's advisor asking in Chinese
    call_command("load_demo", verbosity=0)
    assert client.login(username="advisor", password=DEMO_PASSWORD)
    # when the API gets a made-up page position and an unknown record
    answers = [
        client.get("/api/v1/repair-orders/?cursor=not-a-cursor", HTTP_ACCEPT_LANGUAGE="zh-hans"),
        client.get("/api/v1/repair-orders/999999999/", HTTP_ACCEPT_LANGUAGE="zh-hans"),
        client.post(
            "/api/v1/customers/",
            data="{not json",
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        ),
    ]
    # then each error message reads in Chinese (field names and `code` aside)
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.content
        message = answer.json()["message"]
        text = re.sub(r"`[^`]*`", " ", message.split(": ", 1)[-1])
        assert not english_words(text, ALLOWED), message
