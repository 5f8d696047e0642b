"""Site settings are validated with a message; every state change is audited."""

from datetime import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dms import audit
from dms.exceptions import ConflictError
from dms.models import AuditEntry, OpeningHours, Site
from dms.statemachine import move

pytestmark = pytest.mark.django_db


def test_site_defaults_follow_the_spec(site):
    assert site.time_zone == "Asia/Shanghai"
    assert site.currency == "CNY"
    assert (site.slot_minutes, site.slots_per_cycle, site.buffer_slots_per_cycle) == (15, 4, 1)
    assert (site.followup_min_days, site.followup_max_days) == (2, 5)
    assert (
        site.retention_at_risk_months,
        site.retention_nearly_lost_months,
        site.retention_lost_months,
    ) == (3, 6, 9)
    # 6 technicians × 8 h × 80 %
    assert str(site.daily_bookable_hours) == "38.4"


def test_closing_before_opening_is_refused_with_a_message(site):
    hours = OpeningHours(site=site, weekday=6, opens=time(17, 0), closes=time(9, 0))
    with pytest.raises(ValidationError) as err:
        hours.full_clean()
    assert "Closing time must be after opening time." in str(err.value)


def test_unknown_time_zone_is_refused(site):
    site.time_zone = "Mars/Olympus"
    with pytest.raises(ValidationError, match="Unknown time zone"):
        site.full_clean()


def test_retention_thresholds_must_increase(site):
    site.retention_nearly_lost_months = 2
    with pytest.raises(ValidationError, match="must increase"):
        site.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.filter(pk=site.pk).update(retention_nearly_lost_months=2)


def test_admin_refuses_closing_before_opening(client, site):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "r@example.com", "pw-test-123")
    client.force_login(admin)
    data = {
        "code": site.code,
        "name": site.name,
        "time_zone": "Asia/Shanghai",
        "currency": "CNY",
        "labour_rate": "180",
        "tax_rate": "0.13",
        "dispatch_mode": "dispatcher",
        "technicians_on_duty": 6,
        "technician_hours_per_day": "8",
        "bookable_share": "0.8",
        "comeback_days": 30,
        "slot_minutes": 15,
        "slots_per_cycle": 4,
        "buffer_slots_per_cycle": 1,
        "no_show_grace_minutes": 30,
        "reminder_day_before_hour": 16,
        "reminder_before_minutes": 120,
        "followup_min_days": 2,
        "followup_max_days": 5,
        "followup_max_attempts": 3,
        "calling_hours_start": "09:00",
        "calling_hours_end": "20:00",
        "complaint_response_hours": 24,
        "marketing_contacts_per_month": 2,
        "retention_at_risk_months": 3,
        "retention_nearly_lost_months": 6,
        "retention_lost_months": 9,
        "abc_a_min_visits": 3,
        "abc_a_top_spend_share": "0.2",
        "opening_hours-TOTAL_FORMS": 1,
        "opening_hours-INITIAL_FORMS": 0,
        "opening_hours-0-weekday": 6,
        "opening_hours-0-opens": "17:00",
        "opening_hours-0-closes": "09:00",
        "closed_dates-TOTAL_FORMS": 0,
        "closed_dates-INITIAL_FORMS": 0,
    }
    response = client.post(f"/admin/dms/site/{site.pk}/change/", data)
    assert response.status_code == 200
    assert "Closing time must be after opening time." in response.content.decode()
    assert not site.opening_hours.filter(weekday=6).exists()


def test_move_audits_refuses_illegal_moves_and_ignores_repeats(site, make_user):
    user = make_user("manager")
    site.dispatch_mode = "dispatcher"
    table = {"dispatcher": {"team"}, "team": {"dispatcher"}}
    with transaction.atomic():
        _, changed = move(
            site, to="team", table=table, actor=user, field="dispatch_mode", note="new mode"
        )
    assert changed
    entry = AuditEntry.objects.get()
    assert (entry.from_state, entry.to_state, entry.actor, entry.note) == (
        "dispatcher",
        "team",
        user,
        "new mode",
    )
    with transaction.atomic():
        _, changed = move(site, to="team", table=table, actor=user, field="dispatch_mode")
    assert not changed
    assert AuditEntry.objects.count() == 1
    with pytest.raises(ConflictError) as err, transaction.atomic():
        move(site, to="nowhere", table=table, actor=user, field="dispatch_mode")
    assert err.value.extra["allowed"] == ["dispatcher"]
    assert list(audit.history(site)) == [entry]


def test_staff_names_are_written_family_name_first_when_chinese(make_user):
    assert make_user(None, first_name="娜", last_name="李").get_full_name() == "李娜"
    assert make_user(None, first_name="Anna", last_name="Smith").get_full_name() == "Anna Smith"
    assert (
        make_user(None, username="nobody", first_name="", last_name="").get_full_name() == "nobody"
    )
