"""The demo data loads, is idempotent, and every demo login reaches its start page."""

import pytest
from django.apps import apps
from django.core.management import call_command

from dms.demo import DEMO_PASSWORD, DEMO_STAFF

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        m._meta.label: m._default_manager.count()
        for m in apps.get_models()
        if m._meta.app_label
        in {
            "dms",
            "customers",
            "outreach",
            "appointments",
            "workorders",
            "workshop",
            "followups",
            "care",
            "kpis",
        }
        and m._meta.label != "dms.AuditEntry"
    }


def test_loading_the_demo_twice_changes_nothing():
    call_command("load_demo", verbosity=0)
    first = _counts()
    assert first["dms.Site"] == 1
    assert first["dms.StaffRole"] >= len(DEMO_STAFF)
    call_command("load_demo", verbosity=0)
    assert _counts() == first


def test_every_demo_login_reaches_a_start_page(client):
    call_command("load_demo", verbosity=0)
    for username, *_names in DEMO_STAFF:
        assert client.login(username=username, password=DEMO_PASSWORD), username
        response = client.get("/", follow=True)
        assert response.status_code == 200, username
        assert b"no role at any site" not in response.content, username
        client.logout()
