"""The customer's pages over HTTP: booking with the code, the booking link, the status page
(timeline, approvals, ETag polling, nothing internal), the survey; wrong links get one answer."""

import time
from datetime import timedelta

import pytest
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from appointments.models import Appointment
from dms.models import AuditEntry, Role
from dms.tests.factories import make_staff
from followups.models import Complaint
from outreach.models import CallTask, TaskKind, TaskStatus
from portal import services
from portal.models import CustomerLink, OneTimeCode
from workorders import services as ro_services
from workorders.models import JobLine, ROStatus
from workorders.tests.factories import JobLineFactory, ro_in_state

from .conftest import local, next_open_day

pytestmark = pytest.mark.django_db


def _status_link(ro):
    link = services.status_link_current(repair_order=ro)
    return link, services.link_token(link)


# --- booking ---------------------------------------------------------------------------------
def test_book_online_step_by_step(client, shop):
    site = shop["site"]
    day = next_open_day(site)
    page = client.get(f"/p/book/{site.code}/", {"services": ["oil"], "day": day.isoformat()})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Oil change" in html
    assert f'value="{local(site, day, 9, 0).isoformat()}"' in html
    assert f'value="{local(site, day, 9, 45).isoformat()}"' not in html  # buffer never offered
    assert "sessionid" not in page.cookies  # no staff session
    assert page["Referrer-Policy"] == "same-origin"  # the token never leaves the site

    answer = client.post(
        f"/p/book/{site.code}/code/",
        {
            "services": ["oil"],
            "start": local(site, day, 9, 0).isoformat(),
            "plate": "沪A 12345",
            "phone": "13800138000",
        },
    )
    assert answer.status_code == 200
    assert not Appointment.objects.exists()
    row = OneTimeCode.objects.get()
    # the code (read from where it was made) confirms and books
    code = "123456"
    row.code_hash = services._code_hash(row.request_key, code)
    row.save()
    wrong = client.post(f"/p/book/{site.code}/confirm/", {"key": row.request_key, "code": "999999"})
    assert wrong.status_code == 400
    assert "tries left" in wrong.content.decode()
    booked = client.post(f"/p/book/{site.code}/confirm/", {"key": row.request_key, "code": code})
    assert booked.status_code == 302
    appointment = Appointment.objects.get()
    confirmation = client.get(booked["Location"]).content.decode()
    assert appointment.advisor.last_name + appointment.advisor.first_name in confirmation
    assert "sessionid" not in client.cookies


def test_unknown_site_and_wrong_booking_link_get_the_not_found_page(client, shop):
    assert client.get("/p/book/nowhere/").status_code == 404
    assert client.get("/p/b/" + "x" * 64 + "/").status_code == 404


# --- status ----------------------------------------------------------------------------------
def test_check_in_makes_the_status_link_and_the_page_shows_the_timeline(client):
    ro = ro_in_state(ROStatus.IN_PROGRESS)
    link, token = _status_link(ro)
    assert link.expires_at > timezone.now() + timedelta(days=20)
    page = client.get(f"/p/s/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-step="repair"' in html
    assert 'aria-current="step" data-step="repair"' in html
    assert ro.vehicle.plate in html
    # nothing internal: no technician, no concern notes, no other cars, no staff pages
    tech = JobLine.objects.filter(repair_order=ro).exclude(technician=None).first()
    if tech:
        assert tech.technician.last_name not in html
    assert "Noise from the front when braking" not in html
    assert "/ro/" not in html


def test_polling_answers_304_until_the_ro_moves(client):
    ro = ro_in_state(ROStatus.IN_PROGRESS)
    _link, token = _status_link(ro)
    first = client.get(f"/p/s/{token}/live/")
    tag = first["ETag"]
    same = client.get(f"/p/s/{token}/live/", HTTP_IF_NONE_MATCH=tag)
    assert same.status_code == 304
    JobLine.objects.filter(repair_order=ro).update(work_status=JobLine.WorkStatus.DONE)
    tech = JobLine.objects.filter(repair_order=ro).first().repair_order.advisor
    ro_services.ro_complete_work(repair_order_id=ro.pk, actor=tech)
    moved = client.get(f"/p/s/{token}/live/", HTTP_IF_NONE_MATCH=tag)
    assert moved.status_code == 200
    assert 'aria-current="step" data-step="repair"' in moved.content.decode()


@pytest.mark.parametrize("case", ["wrong", "expired", "replaced"])
def test_a_wrong_expired_or_replaced_status_link_is_the_same_404(client, case):
    ro = ro_in_state(ROStatus.IN_PROGRESS)
    link, token = _status_link(ro)
    never = client.get("/p/s/" + "0" * 64 + "/")
    if case == "wrong":
        token = token[::-1]
    elif case == "expired":
        CustomerLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    else:
        services.status_link_issue(repair_order=ro)
    for path in ("", "live/"):
        answer = client.get(f"/p/s/{token}/{path}")
        assert answer.status_code == 404
        assert answer.content == never.content
    assert client.post(f"/p/s/{token}/approve/").status_code == 404


def test_the_customer_approves_extra_work_on_the_status_page_and_it_is_audited(client):
    ro = ro_in_state(ROStatus.WAITING_APPROVAL)
    link, token = _status_link(ro)
    page = client.get(f"/p/s/{token}/").content.decode()
    assert "Replace brake fluid" in page
    proposed = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    answer = client.post(
        f"/p/s/{token}/approve/",
        {
            "estimate_version": ro.estimate_version,
            "job": [proposed.pk],
            f"decision_{proposed.pk}": "approved",
            "customer_name": "王先生",
        },
    )
    assert answer.status_code == 302
    ro.refresh_from_db()
    proposed.refresh_from_db()
    assert proposed.approval == JobLine.Approval.APPROVED
    assert ro.status == ROStatus.IN_PROGRESS
    entry = AuditEntry.objects.get(action="approval_answered_online")
    assert entry.data["link"] == link.pk
    # a second answer on the same version is refused with a message, not a 500
    again = client.post(
        f"/p/s/{token}/approve/",
        {
            "estimate_version": ro.estimate_version,
            "job": [proposed.pk],
            f"decision_{proposed.pk}": "declined",
        },
    )
    assert again.status_code == 409


def test_extra_work_sent_by_hand_while_the_car_is_worked_on_is_answered_on_the_page(client):
    # the advisor sent the link without pausing the RO: the work goes on meanwhile
    ro = ro_in_state(ROStatus.IN_PROGRESS)
    proposed = JobLineFactory(
        repair_order=ro, description="Wiper blades", approval=JobLine.Approval.PROPOSED
    )
    _link, token = _status_link(ro)
    assert "Wiper blades" in client.get(f"/p/s/{token}/").content.decode()
    answer = client.post(
        f"/p/s/{token}/approve/",
        {
            "estimate_version": ro.estimate_version,
            "job": [proposed.pk],
            f"decision_{proposed.pk}": "approved",
            "customer_name": "王先生",
        },
    )
    assert answer.status_code == 302
    proposed.refresh_from_db()
    ro.refresh_from_db()
    assert proposed.approval == JobLine.Approval.APPROVED
    assert ro.status == ROStatus.IN_PROGRESS
    # a draft RO's lines are the estimate itself, never offered for an answer here
    draft = ro_in_state(ROStatus.DRAFT)
    JobLineFactory(
        repair_order=draft, description="Cabin filter", approval=JobLine.Approval.PROPOSED
    )
    _draft_link, draft_token = _status_link(draft)
    assert "Cabin filter" not in client.get(f"/p/s/{draft_token}/").content.decode()


def test_the_advisor_sees_the_status_link_on_the_ro_and_can_send_a_new_one(client):
    ro = ro_in_state(ROStatus.IN_PROGRESS)
    old, old_token = _status_link(ro)
    client.force_login(ro.advisor)
    page = client.get(f"/ro/{ro.pk}/").content.decode()
    assert old_token in page
    client.post(f"/p/staff/ro/{ro.pk}/status-link/")
    new, new_token = _status_link(ro)
    assert new != old
    client.logout()
    assert client.get(f"/p/s/{old_token}/").status_code == 404
    assert client.get(f"/p/s/{new_token}/").status_code == 200


# --- survey ----------------------------------------------------------------------------------
def _delivered(warranty=False, call_required=True):
    ro = ro_in_state(ROStatus.DELIVERED)
    site = ro.site
    make_staff(role=Role.FOLLOWUP_AGENT, site=site)
    if warranty or not call_required:
        site.followup_call_for_warranty = call_required
        site.save()
    task = CallTask.objects.get(kind=TaskKind.FOLLOWUP, repair_order=ro)
    if warranty:
        task.data = {**task.data, "warranty": True}
        task.save()
    link = CustomerLink.objects.get(purpose="survey", call_task_id=task.pk)
    return ro, task, services.link_token(link)


def test_a_satisfied_survey_answer_is_the_follow_up_done_online(client):
    _ro, task, token = _delivered()
    assert client.get(f"/p/f/{token}/").status_code == 200
    answer = client.post(
        f"/p/f/{token}/", {"answer": "Runs well", "satisfaction": "5", "comments": ""}
    )
    assert answer.status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.outcome == "reached"
    assert task.satisfaction == 5
    assert task.data["channel"] == "online"
    assert not Complaint.objects.exists()
    # the link answered once: a second answer is refused, the page only thanks
    assert client.post(f"/p/f/{token}/", {"answer": "x", "satisfaction": "1"}).status_code == 405
    assert "Thank you" in client.get(f"/p/f/{token}/").content.decode()


def test_a_dissatisfied_answer_opens_a_complaint_and_a_warranty_call_stays_due(client):
    ro, task, token = _delivered(warranty=True)
    client.post(f"/p/f/{token}/", {"answer": "Noise again", "satisfaction": "2"})
    task.refresh_from_db()
    assert task.status in (TaskStatus.SCHEDULED, TaskStatus.OPEN)  # the agent still calls
    assert task.data["survey"]["satisfaction"] == 2
    complaint = Complaint.objects.get()
    assert complaint.repair_order == ro
    assert "Noise again" in complaint.description
    # when the call is due, the agent sees the online answer above the script
    agent = make_staff(role=Role.FOLLOWUP_AGENT, site=ro.site)
    CallTask.objects.filter(pk=task.pk).update(status=TaskStatus.OPEN, assignee=agent)
    client.force_login(agent)
    desk = client.get("/followups/", {"task": task.pk}).content.decode()
    assert 'id="survey-answer"' in desk
    assert "Noise again" in desk


def test_a_wrong_survey_link_is_the_not_found_page(client):
    assert client.get("/p/f/" + "1" * 64 + "/").status_code == 404


def test_the_kpis_count_an_online_answer_as_a_reached_and_satisfied_follow_up(client):
    from kpis.selectors import Scope, followups_completed

    ro, task, token = _delivered()
    client.post(f"/p/f/{token}/", {"answer": "Fine", "satisfaction": "4"})
    today = timezone.localdate()
    row = followups_completed(Scope(sites=(ro.site,), start=today, end=today)).get()
    assert row.pk == task.pk
    assert row.reached
    assert row.satisfied


@pytest.fixture(params=["local memory", pytest.param("redis", marks=pytest.mark.redis)])
def limit_cache(request, settings):
    """The limit's counter on the cache of `make run` and on Redis as in production (where it
    is one pipelined round trip: portal.limits.hit_count)."""
    from django.core.cache import caches

    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": settings.REDIS_URL,
                "KEY_PREFIX": f"test-{settings.RUN_ID}-limits",
            }
        }
    cache = caches["default"]
    assert isinstance(cache, RedisCache) == (request.param == "redis")
    # this run's keys only (the Redis is shared; its prefix is this run's)
    cache.delete_many([f"portal:rate:10.7.7.{n}:{m}" for n in (7, 8) for m in _minutes()])
    return cache


def _minutes():
    now = timezone.now()
    return [(now + timedelta(minutes=d)).strftime("%Y%m%d%H%M") for d in (-1, 0, 1)]


def test_the_customer_pages_have_their_own_limit_per_address(client, shop, settings, limit_cache):
    settings.PORTAL_REQUESTS_PER_MINUTE = 3
    url = f"/p/book/{shop['site'].code}/"
    answers = [client.get(url, REMOTE_ADDR="10.7.7.7").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert client.get(url, REMOTE_ADDR="10.7.7.8").status_code == 200  # another address


def test_the_limits_counter_counts_and_expires(limit_cache):
    from portal.limits import hit_count

    key = f"portal:rate:10.7.7.7:{_minutes()[1]}"
    assert [hit_count(key, timeout=90) for _ in range(3)] == [1, 2, 3]
    assert limit_cache.get(key) == 3  # the same counter as the cache API reads
    stored = limit_cache.make_and_validate_key(key)
    if isinstance(limit_cache, RedisCache):
        assert 0 < limit_cache._cache.get_client(stored).ttl(stored) <= 90
    else:
        assert 0 < limit_cache._expire_info[stored] - time.time() <= 90


def test_asking_about_extra_work_sends_the_customer_to_the_status_page(
    client, django_capture_on_commit_callbacks
):
    from messaging.models import OutboundMessage

    ro = ro_in_state(ROStatus.WAITING_APPROVAL)
    _link, token = _status_link(ro)
    with django_capture_on_commit_callbacks(execute=True):
        ro_services.ro_request_approval(repair_order_id=ro.pk, actor=ro.advisor)
    message = OutboundMessage.objects.get(kind="additional_work", customer=ro.customer)
    assert f"/p/s/{token}/" in message.body
    assert "Replace brake fluid" in client.get(f"/p/s/{token}/").content.decode()


def test_the_front_desk_sees_an_online_booking_to_confirm(client, shop):
    site = shop["site"]
    row, code = services.code_request(
        site=site,
        phone="13912345678",
        plate="沪C11111",
        pending={"services": ["oil"], "start": local(site, next_open_day(site), 10).isoformat()},
        address="10.1.1.1",
    )
    services.code_confirm(site=site, request_key=row.request_key, code=code)
    from customers.tests.factories import make_vin

    appointment, _token = services.booking_complete(
        site=site, request_key=row.request_key, name="陈静", vin=make_vin(4242)
    )
    client.force_login(appointment.advisor)
    detail = client.get(f"/appointments/{appointment.pk}/").content.decode()
    assert 'id="to-confirm"' in detail
    board = client.get("/appointments/", {"date": appointment.day.isoformat()}).content.decode()
    assert "confirm details" in board


def test_a_delay_shows_with_its_reason_and_the_new_promised_time(client):
    ro = ro_in_state(ROStatus.IN_PROGRESS)
    _link, token = _status_link(ro)
    later = ro.promised_at + timedelta(hours=3)
    ro_services.ro_record_delay(
        repair_order_id=ro.pk,
        actor=ro.advisor,
        promised_at=later,
        note="The part arrives this afternoon.",
    )
    html = client.get(f"/p/s/{token}/").content.decode()
    assert 'id="delay"' in html
    assert "The part arrives this afternoon." in html
    local = timezone.localtime(later, ro.site.tzinfo)
    assert f"{local:%m-%d %H:%M}" in html


def test_the_survey_invitation_goes_when_the_follow_up_falls_due_not_at_delivery(
    django_capture_on_commit_callbacks,
):
    from messaging import services as messaging
    from messaging.models import OutboundMessage

    with django_capture_on_commit_callbacks(execute=True):
        ro, task, _token = _delivered()
    invitation = OutboundMessage.objects.get(
        kind="followup_survey", source_key=f"ro:{ro.pk}:survey"
    )
    link = CustomerLink.objects.get(purpose="survey", call_task_id=task.pk)
    # written at delivery, waiting for the follow-up's due time (2–5 days after delivery)
    assert invitation.status == "queued"
    assert invitation.next_attempt_at == task.due_at > timezone.now() + timedelta(days=1)
    assert link.expires_at == task.due_at + timedelta(days=services.SURVEY_LINK_DAYS)
    # the sweeper leaves it alone until then, and hands it out once it is due
    messaging.messages_sweep(now=task.due_at - timedelta(minutes=1))
    invitation.refresh_from_db()
    assert invitation.claimed_at is None
    messaging.messages_sweep(now=task.due_at + timedelta(minutes=1))
    invitation.refresh_from_db()
    assert invitation.claimed_at == task.due_at + timedelta(minutes=1)
