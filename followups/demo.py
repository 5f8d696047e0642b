"""Demo follow-ups: the delivered demo ROs' follow-up calls are brought forward to today so the
desk has calls; one is answered dissatisfied (which opens a complaint the
manager is handling), one complaint by letter is overdue and escalated; an inactive example
webhook subscription shows the admin. Made through the services.

Idempotent: once the site has a complaint, a second run changes nothing.
"""

from datetime import timedelta

from django.utils import timezone

from outreach import services as outreach
from outreach.models import CallTask, TaskKind, TaskStatus, WebhookSubscription
from workorders.models import RepairOrder

from . import services
from .models import Complaint, ComplaintChannel


def load(*, site, users) -> None:
    if Complaint.objects.filter(site=site).exists():
        return
    agent, manager = users["agent"], users["manager"]
    WebhookSubscription.objects.get_or_create(
        site=site,
        name="呼叫中心（示例）",
        defaults={
            "url": "https://callcentre.example.com/dms-events",
            "secret": "demo-signing-secret",
            "events": ["repair_order", "complaint"],
            "active": False,
        },
    )
    # bring the delivered ROs' follow-ups into today's calling hours
    moment = outreach.next_call_start(site=site, at=timezone.now())
    followups = CallTask.objects.filter(
        site=site, kind=TaskKind.FOLLOWUP, status=TaskStatus.SCHEDULED
    )
    followups.filter(due_until__gt=moment).update(due_at=moment)
    outreach.outreach_sweep(now=moment)
    for task_id in CallTask.objects.filter(site=site, status=TaskStatus.QUEUED).values_list(
        "id", flat=True
    ):
        outreach.task_dispatch(task_id=task_id, now=moment)
    open_calls = list(
        CallTask.objects.filter(
            site=site, kind=TaskKind.FOLLOWUP, status=TaskStatus.OPEN, assignee=agent
        ).order_by("due_until", "id")
    )
    if len(open_calls) > 1:
        # the first stays on the agent's desk; the second was dissatisfied
        services.call_task_record_outcome(
            task_id=open_calls[1].pk,
            actor=agent,
            outcome="reached",
            satisfaction=2,
            comments="交车比承诺晚了两个小时，也没人提前打电话告诉我。",
            now=moment,
        )
        complaint = Complaint.objects.filter(site=site, call_task=open_calls[1]).first()
        if complaint is not None:
            services.complaint_assign(complaint_id=complaint.pk, actor=manager, handler=manager)
            services.complaint_contact(
                complaint_id=complaint.pk,
                actor=manager,
                note="已致电道歉，客户接受解释，希望下次准时。",
            )
    if len(open_calls) > 2:
        services.call_task_record_outcome(
            task_id=open_calls[2].pk, actor=agent, outcome="no_answer", now=moment
        )
    # a letter that nobody has answered in time: overdue and escalated
    ro = (
        RepairOrder.objects.filter(
            call_tasks__site=site, call_tasks__kind=TaskKind.FOLLOWUP, complaints__isnull=True
        )
        .select_related("customer")
        .order_by("-call_tasks__id")
        .first()
    )
    if ro is not None:
        letter = services.complaint_open(
            site=site,
            actor=agent,
            channel=ComplaintChannel.LETTER,
            customer=ro.customer,
            repair_order=ro,
            description="来信：结算单上的工时费比估价单高，事先没有征得同意。",
        )
        Complaint.objects.filter(pk=letter.pk).update(
            respond_by=timezone.now() - timedelta(hours=2)
        )
        services.complaints_escalate()
