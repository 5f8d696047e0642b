"""Housekeeping: idempotency records purged after their window and a crashed first request
recovered; an audit listener (webhook publishing) that fails after commit is logged and retried,
never a 500; a site is deactivated, not deleted, and its audit trail stays."""

import hashlib
import json
import logging
from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from dms import audit
from dms.celery import app
from dms.models import AuditEntry, IdempotencyRecord, Role, Site
from dms.permissions import site_ids_of
from dms.tasks import purge_idempotency_records, retry_audit_listener
from dms.tests.factories import SiteFactory, make_staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


@pytest.fixture
def token_client(make_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = make_user(Role.ADVISOR)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


def _record(user, key, *, age, status_code=None, body=b""):
    record = IdempotencyRecord.objects.create(
        user=user,
        key=key,
        method="POST",
        path=URL,
        request_hash=hashlib.sha256(b"POST " + URL.encode() + b"\n" + body).hexdigest(),
        status_code=status_code,
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - age)
    return record


def test_records_past_their_window_are_purged_by_a_beat_task(token_client, settings):
    user = token_client.user
    _record(user, "old", age=timedelta(hours=settings.DMS_IDEMPOTENCY_HOURS, minutes=1))
    _record(user, "recent", age=timedelta(hours=1), status_code=201)
    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    assert any(
        e["task"] == "dms.tasks.purge_idempotency_records" for e in app.conf.beat_schedule.values()
    )


def test_a_crashed_first_request_can_be_retried_after_its_lease(token_client, settings):
    body = json.dumps({"name": "李雷", "phone": "13812345678"}).encode()
    # given the first request with this key died before it answered
    _record(
        token_client.user,
        "crashed",
        age=timedelta(seconds=settings.DMS_IDEMPOTENCY_LEASE_SECONDS + 1),
        body=body,
    )
    # when the client retries
    response = token_client.generic(
        "POST", URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="crashed"
    )
    # then it runs (not 409 for a day) and the answer is kept for the next retry
    assert response.status_code == 201, response.content
    assert Customer.objects.filter(name="李雷").count() == 1
    again = token_client.generic(
        "POST", URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="crashed"
    )
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"


def test_a_first_request_still_within_its_lease_is_a_409(token_client):
    body = json.dumps({"name": "李雷", "phone": "13812345678"}).encode()
    _record(token_client.user, "running", age=timedelta(seconds=5), body=body)
    response = token_client.generic(
        "POST", URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="running"
    )
    assert response.status_code == 409
    assert not Customer.objects.exists()


calls: list = []


def flaky_listener(entry_id: int) -> None:
    calls.append(entry_id)
    if len(calls) == 1:
        raise ConnectionError("webhook table locked")


def test_a_listener_failing_after_commit_is_logged_and_retried_never_a_500(
    token_client, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    calls.clear()
    monkeypatch.setattr(audit, "_listeners", [*audit._listeners, (flaky_listener, None)])
    sent = []
    monkeypatch.setattr(
        retry_audit_listener,
        "apply_async",
        lambda args=None, kwargs=None, **kw: sent.append((args, kw)),
    )
    # when a committed change's listener fails
    with (
        caplog.at_level(logging.ERROR, logger="dms.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = token_client.post(URL, {"name": "李雷", "phone": "13812345678"}, format="json")
    # then the change stands and the client hears of it
    assert response.status_code == 201
    assert Customer.objects.filter(name="李雷").exists()
    assert "flaky_listener failed" in caplog.text
    # and a retry was handed to Celery, which runs the listener again
    [((name, entry_ids), options)] = sent
    assert options["countdown"] > 0
    retry_audit_listener.apply(args=(name, entry_ids)).get()
    assert calls == [entry_ids[0], entry_ids[0]]


def test_a_site_is_deactivated_not_deleted_and_keeps_its_audit_trail(client, django_user_model):
    site = SiteFactory()
    advisor = make_staff(role=Role.ADVISOR, site=site, username="closing_advisor")
    customer = CustomerFactory(site=site)
    audit.record(subject=customer, action="customer_created", site=site)
    # deleting it is refused by the database while its audit entries exist
    with pytest.raises(ProtectedError):
        Site.objects.filter(pk=site.pk).delete()
    # and the admin offers no delete, even to a superuser
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    assert client.get(f"/admin/dms/site/{site.pk}/delete/").status_code == 403
    # deactivating it: nobody works there any more, the trail stays
    response = client.post(f"/admin/dms/site/{site.pk}/change/", _site_form(client, site))
    assert response.status_code == 302, response.content[:500]
    site.refresh_from_db()
    assert site.is_active is False
    assert site_ids_of(advisor) == []
    assert AuditEntry.objects.filter(site=site).count() == 1


def _site_form(client, site):
    """The admin change form of the site as shown, with "active" unticked."""
    import re

    page = client.get(f"/admin/dms/site/{site.pk}/change/").content.decode()
    data = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page):
        data.setdefault(name, value)
    for name in re.findall(r'<input type="checkbox" name="([^"]+)"[^>]*checked', page):
        data[name] = "on"
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        data[name] = chosen.group(1) if chosen else ""
    data.pop("is_active", None)
    return data
