"""The follow-up window, assignment and the sweeper/worker pair, on a controlled clock."""

from datetime import date, time, timedelta

import pytest

from customers.models import Channel
from dms import audit
from dms.models import ClosedDate, Role, StaffRole
from followups import services
from outreach import services as outreach
from outreach.models import CallTask, OutboundMessage, TaskKind, TaskStatus
from workorders.models import repair_order_of

from .factories import agent, delivered_ro, local

pytestmark = pytest.mark.django_db


def test_window_is_two_to_five_days_in_calling_hours(site):
    # given a delivery on Wednesday 18 Nov (site open Mon–Sat)
    agent(site)
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 15, 0))
    # when the follow-up is scheduled
    task = services.followup_schedule_for_delivery(repair_order=ro)
    # then it is due from Friday 09:00 to Monday 20:00 (Sunday is closed, the window spans it)
    assert task.kind == TaskKind.FOLLOWUP
    assert task.due_at == local(2026, 11, 20, 9, 0)
    assert task.due_until == local(2026, 11, 23, 20, 0)
    assert task.channel == Channel.CALL


def test_window_skips_closed_days_and_days_without_hours(site):
    # given delivery Thursday 19 Nov; Saturday 21 is a holiday, Sunday has no opening hours
    ClosedDate.objects.create(site=site, date=date(2026, 11, 21), reason="holiday")
    ro = delivered_ro(site=site, at=local(2026, 11, 19, 10, 0))
    task = services.followup_schedule_for_delivery(repair_order=ro)
    # then the first callable day is Monday 23, the last Tuesday 24
    assert task.due_at == local(2026, 11, 23, 9, 0)
    assert task.due_until == local(2026, 11, 24, 20, 0)


def test_window_entirely_closed_moves_to_next_open_day(site):
    # given the whole 2–5-day window is a closure (Chinese New Year style)
    for d in range(20, 24):
        ClosedDate.objects.create(site=site, date=date(2026, 11, d))
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
    task = services.followup_schedule_for_delivery(repair_order=ro)
    # then the call is not dropped: it goes to Tuesday 24, one day long
    assert task.due_at == local(2026, 11, 24, 9, 0)
    assert task.due_until == local(2026, 11, 24, 20, 0)


def test_calling_hours_follow_the_site_setting(site):
    site.calling_hours_start, site.calling_hours_end = time(10, 0), time(18, 30)
    site.save()
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
    task = services.followup_schedule_for_delivery(repair_order=ro)
    assert task.due_at.astimezone(site.tzinfo).time() == time(10, 0)
    assert task.due_until.astimezone(site.tzinfo).time() == time(18, 30)


def test_redelivery_never_duplicates_the_followup(site):
    ro = delivered_ro(site=site)
    first = services.followup_schedule_for_delivery(repair_order=ro)
    second = services.followup_schedule_for_delivery(repair_order=ro)
    assert first.pk == second.pk
    assert CallTask.objects.filter(repair_order=ro, kind=TaskKind.FOLLOWUP).count() == 1


def test_never_assigned_to_the_ros_advisor_even_if_they_are_an_agent(site):
    # given the advisor also holds the follow-up agent role, and one other agent
    ro = delivered_ro(site=site)
    StaffRole.objects.create(user=ro.advisor, site=site, role=Role.FOLLOWUP_AGENT)
    other = agent(site)
    task = services.followup_schedule_for_delivery(repair_order=ro)
    assert task.assignee == other


def test_round_robin_spreads_followups_over_agents_on_duty(site):
    a, b = agent(site, "agent_a"), agent(site, "agent_b")
    off = agent(site, "agent_off")
    StaffRole.objects.filter(user=off).update(on_duty=False)
    assignees = [
        services.followup_schedule_for_delivery(repair_order=delivered_ro(site=site)).assignee
        for _ in range(4)
    ]
    assert sorted(u.username for u in assignees) == ["agent_a", "agent_a", "agent_b", "agent_b"]
    assert off not in assignees
    assert {a, b} == set(assignees)


def test_warranty_vehicle_is_followed_up_and_flagged(site):
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
    ro.vehicle.warranty_end = date(2027, 6, 1)
    ro.vehicle.save()
    task = services.followup_schedule_for_delivery(repair_order=ro)
    assert task.data["warranty"] is True


def test_customer_without_call_consent_gets_an_sms_instead(site):
    ro = delivered_ro(site=site)
    ro.customer.consent_call = False
    ro.customer.save()
    task = services.followup_schedule_for_delivery(repair_order=ro)
    assert task.channel == Channel.SMS
    assert task.assignee is None
    assert "How has your car been" in task.message or "车" in task.message


def test_customer_opted_out_of_everything_gets_a_cancelled_task(site):
    ro = delivered_ro(site=site)
    c = ro.customer
    c.consent_call = c.consent_sms = c.consent_email = False
    c.save()
    task = services.followup_schedule_for_delivery(repair_order=ro)
    assert task.status == TaskStatus.CANCELLED
    assert "opted out" in audit.history(task).last().note


# --- sweeper and worker ----------------------------------------------------------------------
def _due_followup(site, *, channel=Channel.CALL, **customer_fields):
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
    for k, v in customer_fields.items():
        setattr(ro.customer, k, v)
    ro.customer.save()
    task = services.followup_schedule_for_delivery(repair_order=ro)
    CallTask.objects.filter(pk=task.pk).update(channel=channel, message="Hello")
    return task


def test_sweep_claims_due_rows_once_and_worker_opens_the_call(site):
    agent(site)
    task = _due_followup(site)
    # before the window: nothing claimed
    assert outreach.outreach_sweep(now=local(2026, 11, 20, 8, 0))["claimed"] == 0
    # when due: claimed once, a second sweep claims nothing
    now = local(2026, 11, 20, 10, 0)
    assert outreach.outreach_sweep(now=now)["claimed"] == 1
    assert outreach.outreach_sweep(now=now)["claimed"] == 0
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED
    # the worker opens it on the agent's desk; a second run changes nothing
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "opened"
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "skipped"
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    # every move audited: scheduled → queued by the sweeper, queued → open by the worker
    assert [(e.action, e.from_state, e.to_state) for e in audit.history(task)][1:] == [
        ("queued", "scheduled", "queued"),
        ("open", "queued", "open"),
    ]


def test_lost_worker_message_is_handed_out_again_after_a_while(site):
    task = _due_followup(site)
    now = local(2026, 11, 20, 10, 0)
    outreach.outreach_sweep(now=now)
    # the worker never ran (killed / broker lost it): later sweeps pick it up again
    assert outreach.outreach_sweep(now=now + timedelta(minutes=2))["claimed"] == 0
    assert outreach.outreach_sweep(now=now + timedelta(minutes=11))["claimed"] == 1
    assert outreach.task_dispatch(task_id=task.pk, now=now + timedelta(minutes=11)) == "opened"
    # handing it out again was no move of its own: one claim in the audit trail
    assert [e.action for e in audit.history(task)].count("queued") == 1


def test_sms_goes_to_the_backend_exactly_once(site):
    task = _due_followup(site, channel=Channel.SMS)
    now = local(2026, 11, 20, 10, 0)
    outreach.outreach_sweep(now=now)
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "sent"
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "skipped"
    message = OutboundMessage.objects.get()
    assert message.to == task.customer.phone
    assert message.body == "Hello"
    task.refresh_from_db()
    assert task.status == TaskStatus.SENT


def test_message_in_quiet_hours_waits_until_they_end(site):
    task = _due_followup(
        site, channel=Channel.SMS, quiet_hours_start=time(12, 0), quiet_hours_end=time(14, 30)
    )
    now = local(2026, 11, 20, 12, 15)
    outreach.outreach_sweep(now=now)
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "waiting"
    task.refresh_from_db()
    assert task.status == TaskStatus.SCHEDULED
    assert task.due_at == local(2026, 11, 20, 14, 30)
    assert not OutboundMessage.objects.exists()
    # at 14:30 it goes out
    later = local(2026, 11, 20, 14, 30)
    assert outreach.outreach_sweep(now=later)["claimed"] == 1
    assert outreach.task_dispatch(task_id=task.pk, now=later) == "sent"


def test_quiet_hours_across_midnight_push_to_the_morning(site):
    task = _due_followup(
        site, channel=Channel.SMS, quiet_hours_start=time(19, 0), quiet_hours_end=time(10, 0)
    )
    now = local(2026, 11, 20, 19, 30)
    outreach.outreach_sweep(now=now)
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "waiting"
    task.refresh_from_db()
    assert task.due_at == local(2026, 11, 21, 10, 0)


def test_opted_out_channel_is_never_used(site):
    task = _due_followup(site, channel=Channel.SMS)
    task.customer.consent_sms = False
    task.customer.save()
    now = local(2026, 11, 20, 10, 0)
    outreach.outreach_sweep(now=now)
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "opted_out"
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert not OutboundMessage.objects.exists()


def test_call_not_made_before_the_window_closes_becomes_unreachable(site):
    agent(site)
    task = _due_followup(site)
    outreach.outreach_sweep(now=local(2026, 11, 20, 10, 0))
    outreach.task_dispatch(task_id=task.pk, now=local(2026, 11, 20, 10, 0))
    # nobody called; the window closes Monday 20:00
    result = outreach.outreach_sweep(now=local(2026, 11, 23, 20, 1))
    task.refresh_from_db()
    assert result["expired"] == 1
    assert task.status == TaskStatus.UNREACHABLE


class RefusingBackend:
    def send(self, *, task, to, body):
        raise ValueError("number is on the carrier's block list")


def test_a_permanent_gateway_refusal_fails_the_task_without_retrying(site, settings):
    settings.DMS_SMS_BACKEND = "followups.tests.test_scheduling.RefusingBackend"
    task = _due_followup(site, channel=Channel.SMS)
    now = local(2026, 11, 20, 10, 0)
    outreach.outreach_sweep(now=now)
    assert outreach.task_dispatch(task_id=task.pk, now=now) == "failed"
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert "block list" in audit.history(task).last().note
    # it is not handed out again; an agent calls instead (never silently dropped)
    assert outreach.outreach_sweep(now=now + timedelta(hours=1))["claimed"] == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    call = CallTask.objects.get(source_key=f"{task.source_key}:call")
    assert (call.channel, call.kind, call.status) == (Channel.CALL, task.kind, TaskStatus.QUEUED)
    # and the call is about the same visit, its advisor still known to the engine
    ro = repair_order_of(task)
    assert repair_order_of(call) == ro
    assert outreach.advisor_id(call) == ro.advisor_id


def test_desk_queries_do_not_grow_with_the_queue(site, client, django_assert_max_num_queries):
    amy = agent(site, "amy")
    now = local(2026, 11, 20, 10, 0)

    def add_calls(n):
        for _ in range(n):
            task = services.followup_schedule_for_delivery(
                repair_order=delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
            )
            outreach.outreach_sweep(now=now)
            outreach.task_dispatch(task_id=task.pk, now=now)

    client.force_login(amy)
    add_calls(2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get("/followups/").status_code == 200
    add_calls(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/followups/")
    queue = response.content.decode().split('id="call-panel"')[0]
    assert queue.count('data-task="') == 10


def test_cancel_moves_pending_tasks_by_the_table_and_audits_each(site, make_user, monkeypatch):
    from outreach.transitions import TASK_TRANSITIONS

    # given one follow-up per status: scheduled, queued, open, sent
    manager = make_user("manager")
    tasks = {}
    for status in (TaskStatus.SCHEDULED, TaskStatus.QUEUED, TaskStatus.OPEN, TaskStatus.SENT):
        task = services.followup_schedule_for_delivery(
            repair_order=delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
        )
        CallTask.objects.filter(pk=task.pk).update(status=status)
        tasks[status] = task.pk
    # and a table in which an open call may no longer be cancelled
    monkeypatch.setitem(
        TASK_TRANSITIONS,
        TaskStatus.OPEN,
        TASK_TRANSITIONS[TaskStatus.OPEN] - {TaskStatus.CANCELLED},
    )
    # when the cause of the tasks is undone
    count = outreach.tasks_cancel(
        actor=manager, note="visit cancelled", site=site, kind=TaskKind.FOLLOWUP
    )
    # then only the moves the table allows happened, each audited with who, from and to
    statuses = dict(CallTask.objects.values_list("id", "status"))
    assert count == 2
    assert statuses[tasks[TaskStatus.SCHEDULED]] == TaskStatus.CANCELLED
    assert statuses[tasks[TaskStatus.QUEUED]] == TaskStatus.CANCELLED
    assert statuses[tasks[TaskStatus.OPEN]] == TaskStatus.OPEN
    assert statuses[tasks[TaskStatus.SENT]] == TaskStatus.SENT
    for status in (TaskStatus.SCHEDULED, TaskStatus.QUEUED):
        entry = audit.history(CallTask.objects.get(pk=tasks[status])).last()
        assert (entry.action, entry.from_state, entry.to_state) == (
            "cancelled",
            status,
            "cancelled",
        )
        assert (entry.actor, entry.note) == (manager, "visit cancelled")
