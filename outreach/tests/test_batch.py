"""The batch worker: one message per claimed batch, each task acted on once."""

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count
from django.utils import timezone

from customers.models import Channel
from customers.tests.factories import CustomerFactory
from dms.models import AuditEntry, OpeningHours, Role
from dms.tests.factories import SiteFactory, make_staff
from outreach import services
from outreach.models import (
    CallTask,
    OutboundMessage,
    TaskKind,
    TaskStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from outreach.tasks import dispatch_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_site():
    """A site that calls around the clock, so the real clock is always inside calling hours."""
    site = SiteFactory(hours=[], calling_hours_start=time(0, 0), calling_hours_end=time(23, 59))
    for weekday in range(7):
        OpeningHours.objects.create(
            site=site, weekday=weekday, opens=time(0, 0), closes=time(23, 59)
        )
    make_staff(role=Role.FOLLOWUP_AGENT, site=site, username="agent_batch")
    return site


def _task(site, key, channel, customer=None, **extra):
    now = timezone.now()
    return CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key=f"batch:{key}",
        customer=customer or CustomerFactory(site=site, email=f"{key}@example.com"),
        channel=channel,
        message=f"Your car is due ({key})",
        due_at=now - timedelta(minutes=5),
        due_until=now + timedelta(days=1),
        **extra,
    )


def _snapshot():
    return (
        sorted(CallTask.objects.values_list("id", "status", "assignee_id", "completed_at")),
        sorted(OutboundMessage.objects.values_list("task_id", "to", "body")),
        AuditEntry.objects.count(),
    )


def test_batch_sends_opens_and_refuses_each_task_once_and_a_second_run_changes_nothing(open_site):
    # given a claimed batch: three SMS, an e-mail, two calls and an SMS to a customer who opted out
    sms = [_task(open_site, f"sms{i}", Channel.SMS) for i in range(3)]
    email = _task(open_site, "mail", Channel.EMAIL)
    calls = [_task(open_site, f"call{i}", Channel.CALL) for i in range(2)]
    opted_out = _task(
        open_site,
        "optout",
        Channel.SMS,
        customer=CustomerFactory(site=open_site, consent_sms=False),
    )
    assert services.outreach_sweep()["claimed"] == 7
    ids = [t.pk for t in [*sms, email, *calls, opted_out]]
    # when the worker runs the batch
    result = dispatch_batch(ids)
    # then the messages are in the outbox, the calls are on the agent's desk, the opt-out failed
    assert result == {"sent": 4, "opened": 2, "opted_out": 1}
    statuses = dict(CallTask.objects.values_list("id", "status"))
    assert [statuses[t.pk] for t in sms] == [TaskStatus.SENT] * 3
    assert statuses[email.pk] == TaskStatus.SENT
    assert statuses[opted_out.pk] == TaskStatus.FAILED
    assert {t.assignee.username for t in CallTask.objects.filter(channel=Channel.CALL)} == {
        "agent_batch"
    }
    outbox = {m.task_id: m for m in OutboundMessage.objects.all()}
    assert set(outbox) == {t.pk for t in [*sms, email]}
    assert outbox[email.pk].to == "mail@example.com"
    assert outbox[sms[0].pk].body == "Your car is due (sms0)"
    # and each sent task has exactly one "sent" audit row, as the one-task path writes
    sent_audits = AuditEntry.objects.filter(action="sent").values("object_id", "from_state")
    assert sorted(a["object_id"] for a in sent_audits) == sorted(outbox)
    assert {a["from_state"] for a in sent_audits} == {TaskStatus.QUEUED}
    # when the same batch is delivered again (redelivery after a lost ack)
    before = _snapshot()
    again = dispatch_batch(ids)
    # then nothing changes
    assert again == {"skipped": 7}
    assert _snapshot() == before


def test_batch_skips_rows_no_longer_queued(open_site):
    # a task cancelled after it was claimed is not sent
    task = _task(open_site, "cancelled", Channel.SMS)
    services.outreach_sweep()
    CallTask.objects.filter(pk=task.pk).update(status=TaskStatus.CANCELLED)
    assert dispatch_batch([task.pk]) == {"skipped": 1}
    assert not OutboundMessage.objects.exists()


def test_sent_batch_is_published_to_webhooks_once_per_task(
    open_site, django_capture_on_commit_callbacks
):
    WebhookSubscription.objects.create(
        site=open_site, name="crm", url="http://127.0.0.1:9/", secret="k", events=["call_task"]
    )
    tasks = [_task(open_site, f"hook{i}", Channel.SMS) for i in range(3)]
    services.outreach_sweep()
    with django_capture_on_commit_callbacks(execute=True):
        services.tasks_dispatch(task_ids=[t.pk for t in tasks])
    per_task = (
        WebhookDelivery.objects.filter(event="call_task.sent")
        .values("entry__object_id")
        .annotate(n=Count("id"))
    )
    assert sorted(r["entry__object_id"] for r in per_task) == sorted(t.pk for t in tasks)
    assert {r["n"] for r in per_task} == {1}


# Customers and tasks that exercise each rule of "may this message go now?", at 10:00 and at
# 08:59:30 (thirty seconds before the site's calling hours).
CASES = {
    "sms": ({}, {}),
    "email": ({}, {"channel": Channel.EMAIL}),
    "no e-mail address": ({"email": ""}, {"channel": Channel.EMAIL}),
    "sms opted out": ({"consent_sms": False}, {}),
    "quiet now": ({"quiet_hours_start": time(9, 30), "quiet_hours_end": time(11, 0)}, {}),
    "quiet over night": ({"quiet_hours_start": time(21, 0), "quiet_hours_end": time(8, 0)}, {}),
    "quiet ends in 30 s": (
        {"quiet_hours_start": time(9, 0), "quiet_hours_end": time(9, 0, 30)},
        {},
    ),
    "marketing without consent": ({}, {"kind": TaskKind.WINBACK_AT_RISK}),
    "marketing with consent": ({"consent_marketing": True}, {"kind": TaskKind.WINBACK_AT_RISK}),
    "window closed": ({}, {"due_until": "past"}),
    "window ends before hours": ({}, {"due_until": "soon"}),
    "call": ({}, {"channel": Channel.CALL}),
}


def _case_tasks(site, prefix, now):
    tasks = {}
    for name, (customer_fields, task_fields) in CASES.items():
        fields = {"channel": Channel.SMS, "kind": TaskKind.MAINTENANCE_DUE, **task_fields}
        until = {
            "past": now - timedelta(minutes=1),
            "soon": now + timedelta(seconds=10),
        }.get(fields.pop("due_until", None), now + timedelta(days=1))
        tasks[name] = CallTask.objects.create(
            site=site,
            source_key=f"{prefix}:{name}",
            customer=CustomerFactory(
                site=site, **{"email": f"{len(tasks)}@example.com", **customer_fields}
            ),
            message=f"About your car ({name})",
            due_at=min(now - timedelta(minutes=5), until),
            due_until=until,
            **fields,
        )
    return tasks


def _state(task):
    task.refresh_from_db()
    out = OutboundMessage.objects.filter(task=task).values_list("to", "body").first()
    last = AuditEntry.objects.filter(
        object_id=task.pk, action__in=["sent", "open", "wait", "failed", "unreachable"]
    ).values_list("action", "from_state", "to_state", "note")
    return task.status, task.due_at, task.completed_at, out, sorted(last)


@pytest.mark.parametrize("clock", [(10, 0, 0), (8, 59, 30)])
def test_batch_path_decides_every_task_as_the_one_task_path_does(site, clock):
    # given the same tasks twice, claimed at the same moment
    from datetime import datetime

    SHANGHAI = ZoneInfo("Asia/Shanghai")

    make_staff(role=Role.FOLLOWUP_AGENT, site=site, username="agent_same")
    now = datetime(2026, 11, 20, *clock, tzinfo=SHANGHAI)  # a Friday, the site is open
    batch = _case_tasks(site, "batch", now)
    single = _case_tasks(site, "single", now)
    services.outreach_sweep(now=now)
    # when one set goes through the batch worker and the other task by task
    services.tasks_dispatch(task_ids=[t.pk for t in batch.values()], now=now)
    for task in single.values():
        services.task_dispatch(task_id=task.pk, now=now)
    # then each task ends the same way: status, next due time, outbox row, audit entry
    for name in CASES:
        b, s = _state(batch[name]), _state(single[name])
        assert b[:3] == s[:3], name
        assert (b[3] is None) == (s[3] is None), name
        assert b[4] == s[4], name
    statuses = {name: task.status for name, task in batch.items()}
    assert statuses["sms"] == statuses["email"] == TaskStatus.SENT
    assert statuses["sms opted out"] == statuses["no e-mail address"] == TaskStatus.FAILED
    assert statuses["call"] == TaskStatus.OPEN
    # 9:30–11:00 quiet hours: at 10:00 the message waits for 11:00; at 08:59:30 it goes out
    quiet = TaskStatus.SCHEDULED if clock == (10, 0, 0) else TaskStatus.SENT
    assert statuses["quiet now"] == quiet


class RefusingBulkBackend:
    """A gateway whose bulk call is refused and whose single sends refuse one number."""

    def send_many(self, messages):
        raise ValueError("bulk endpoint unavailable")

    def send(self, *, task, to, body):
        if task.customer.phone == "13900000000":
            raise ValueError("number is on the carrier's block list")
        return OutboundMessage.objects.create(
            task=task, site=task.site, channel=task.channel, to=to, body=body, backend="refusing"
        )


def test_a_refused_bulk_send_falls_back_to_one_task_at_a_time(open_site, settings):
    settings.DMS_SMS_BACKEND = "outreach.tests.test_batch.RefusingBulkBackend"
    good = _task(open_site, "good", Channel.SMS)
    blocked = _task(
        open_site,
        "blocked",
        Channel.SMS,
        customer=CustomerFactory(site=open_site, phone="13900000000"),
    )
    services.outreach_sweep()
    assert dispatch_batch([good.pk, blocked.pk]) == {"sent": 1, "failed": 1}
    assert list(OutboundMessage.objects.values_list("task_id", flat=True)) == [good.pk]
    blocked.refresh_from_db()
    assert blocked.status == TaskStatus.FAILED
