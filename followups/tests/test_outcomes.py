"""Recording call outcomes, the independence rule, retries and complaints."""

from datetime import timedelta
from decimal import Decimal

import pytest

from dms import audit
from dms.exceptions import ApplicationError, ConflictError, PermissionDeniedError
from dms.models import Role
from dms.tests.factories import make_staff
from followups import services
from followups.models import (
    Complaint,
    ComplaintCause,
    ComplaintChannel,
    ComplaintDecision,
    ComplaintStatus,
)
from outreach import services as outreach
from outreach.models import CallTask, TaskKind, TaskStatus
from workorders.models import repair_order_of
from workorders.tests.factories import JobLineFactory

from .factories import agent, delivered_ro, local

pytestmark = pytest.mark.django_db
NOW = local(2026, 11, 20, 10, 0)


@pytest.fixture
def open_followup(site):
    """A follow-up call open on agent "amy"'s desk for an RO with a technician on it."""
    amy = agent(site, "amy")
    ro = delivered_ro(site=site, at=local(2026, 11, 18, 12, 0))
    tech = make_staff(role=Role.TECHNICIAN, site=site, username="tech_li")
    JobLineFactory(repair_order=ro, technician=tech)
    JobLineFactory(repair_order=ro)
    task = services.followup_schedule_for_delivery(repair_order=ro)
    outreach.outreach_sweep(now=NOW)
    outreach.task_dispatch(task_id=task.pk, now=NOW)
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert task.assignee == amy
    return task


def test_reached_and_satisfied_closes_the_call(open_followup):
    task = services.call_task_record_outcome(
        task_id=open_followup.pk,
        actor=open_followup.assignee,
        outcome="reached",
        satisfaction=5,
        comments="车很好，谢谢",
        now=NOW,
    )
    assert task.status == TaskStatus.DONE
    assert task.satisfaction == 5
    assert task.comments == "车很好，谢谢"
    assert not Complaint.objects.exists()


def test_the_advisor_may_not_record_the_outcome(open_followup):
    advisor = repair_order_of(open_followup).advisor
    from dms.models import StaffRole

    StaffRole.objects.create(user=advisor, site=open_followup.site, role=Role.FOLLOWUP_AGENT)
    with pytest.raises(PermissionDeniedError, match="service advisor on this visit"):
        services.call_task_record_outcome(
            task_id=open_followup.pk, actor=advisor, outcome="reached", satisfaction=5
        )
    open_followup.refresh_from_db()
    assert open_followup.status == TaskStatus.OPEN


def test_the_advisor_may_not_be_assigned(open_followup, make_user):
    manager = make_user(Role.MANAGER)
    advisor = repair_order_of(open_followup).advisor
    with pytest.raises(PermissionDeniedError, match="service advisor"):
        services.call_task_assign(task_id=open_followup.pk, actor=manager, assignee=advisor)


def test_no_answer_retries_later_then_gives_up_after_the_sites_attempts(open_followup):
    amy = open_followup.assignee
    now = NOW
    for attempt in (1, 2):
        task = services.call_task_record_outcome(
            task_id=open_followup.pk, actor=amy, outcome="no_answer", now=now
        )
        assert task.status == TaskStatus.SCHEDULED
        assert task.attempts == attempt
        assert task.due_at >= now + timedelta(hours=2)
        now = task.due_at
        outreach.outreach_sweep(now=now)
        outreach.task_dispatch(task_id=task.pk, now=now)
    task = services.call_task_record_outcome(
        task_id=open_followup.pk, actor=amy, outcome="no_answer", now=now
    )
    assert task.status == TaskStatus.UNREACHABLE
    assert task.attempts == 3


def test_outcome_on_a_closed_call_is_refused(open_followup):
    amy = open_followup.assignee
    services.call_task_record_outcome(task_id=open_followup.pk, actor=amy, outcome="wrong_number")
    with pytest.raises(ConflictError, match="not open"):
        services.call_task_record_outcome(
            task_id=open_followup.pk, actor=amy, outcome="reached", satisfaction=4
        )


def test_score_outside_1_to_5_is_refused_and_nothing_saved(open_followup):
    with pytest.raises(ApplicationError) as err:
        services.call_task_record_outcome(
            task_id=open_followup.pk,
            actor=open_followup.assignee,
            outcome="reached",
            satisfaction=7,
        )
    assert "satisfaction" in err.value.fields
    open_followup.refresh_from_db()
    assert open_followup.status == TaskStatus.OPEN
    assert open_followup.attempts == 0


def test_low_score_opens_a_complaint_linked_to_ro_advisor_and_technicians(open_followup):
    services.call_task_record_outcome(
        task_id=open_followup.pk,
        actor=open_followup.assignee,
        outcome="reached",
        satisfaction=2,
        comments="等了三个小时",
    )
    complaint = Complaint.objects.get()
    ro = repair_order_of(open_followup)
    assert complaint.channel == ComplaintChannel.FOLLOWUP_CALL
    assert complaint.repair_order == ro
    assert complaint.advisor == ro.advisor
    assert set(complaint.technicians.all()) == {
        line.technician for line in ro.lines.all() if line.technician
    }
    assert complaint.description == "等了三个小时"


def test_technical_problem_routes_a_callback_to_the_technician(open_followup):
    ro = repair_order_of(open_followup)
    tech = ro.lines.exclude(technician=None).first().technician
    services.call_task_record_outcome(
        task_id=open_followup.pk,
        actor=open_followup.assignee,
        outcome="reached",
        satisfaction=4,
        technical_problem=True,
        technical_note="Noise from the front left wheel when braking",
    )
    callback = CallTask.objects.get(kind=TaskKind.TECH_CALLBACK)
    assert callback.assignee == tech
    assert callback.message == "Noise from the front left wheel when braking"


def _complaint(site, make_user):
    ro = delivered_ro(site=site)
    opener = make_user(Role.FOLLOWUP_AGENT)
    return services.complaint_open(
        site=site,
        actor=opener,
        channel=ComplaintChannel.INBOUND_CALL,
        customer=ro.customer,
        repair_order=ro,
        description="The air-con still smells",
    )


def test_complaint_happy_path_not_our_fault_closes_after_confirming_call(site, make_user):
    complaint = _complaint(site, make_user)
    handler = make_user(Role.FOLLOWUP_AGENT)
    agent(site, "confirmer")
    services.complaint_assign(complaint_id=complaint.pk, actor=handler, handler=handler)
    services.complaint_contact(complaint_id=complaint.pk, actor=handler, note="Called, listened")
    services.complaint_decide(
        complaint_id=complaint.pk,
        actor=handler,
        decision=ComplaintDecision.NOT_OUR_FAULT,
        cause=ComplaintCause.PRODUCT,
        explanation="The evaporator design; covered by the OEM",
        free_inspection=True,
        labour_discount="50",
    )
    complaint = services.complaint_resolve(
        complaint_id=complaint.pk, actor=handler, resolution="Free inspection done"
    )
    task = complaint.confirm_task
    assert task.kind == TaskKind.COMPLAINT_CONFIRM
    assert task.assignee not in (None, handler, complaint.advisor)
    caller = task.assignee
    # it cannot be closed any other way than the confirming call
    CallTask.objects.filter(pk=task.pk).update(status=TaskStatus.OPEN)
    services.call_task_record_outcome(
        task_id=task.pk, actor=caller, outcome="reached", satisfaction=5
    )
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.CLOSED
    assert complaint.labour_discount == Decimal("50.00")
    assert complaint.free_inspection_offered
    assert [e.action for e in audit.history(complaint)] == [
        "opened",
        "assigned",
        "contacted",
        "decided_not_our_fault",
        "resolved",
        "closed",
    ]


def test_still_unhappy_on_the_confirming_call_reopens_the_complaint(site, make_user):
    complaint = _complaint(site, make_user)
    manager = make_user(Role.MANAGER)
    services.complaint_assign(complaint_id=complaint.pk, actor=manager, handler=manager)
    services.complaint_contact(complaint_id=complaint.pk, actor=manager, note="ok")
    services.complaint_decide(
        complaint_id=complaint.pk,
        actor=manager,
        decision=ComplaintDecision.NOT_OUR_FAULT,
        cause=ComplaintCause.COMMUNICATION,
        explanation="x",
    )
    services.complaint_resolve(complaint_id=complaint.pk, actor=manager, resolution="explained")
    complaint = services.complaint_confirm(
        complaint_id=complaint.pk, actor=manager, satisfied=False
    )
    assert complaint.status == ComplaintStatus.CONTACTED


def test_our_fault_needs_apology_and_rework_time(site, make_user):
    complaint = _complaint(site, make_user)
    manager = make_user(Role.MANAGER)
    services.complaint_assign(complaint_id=complaint.pk, actor=manager, handler=manager)
    services.complaint_contact(complaint_id=complaint.pk, actor=manager, note="ok")
    with pytest.raises(ApplicationError) as err:
        services.complaint_decide(
            complaint_id=complaint.pk,
            actor=manager,
            decision=ComplaintDecision.OUR_FAULT,
            cause=ComplaintCause.WORKMANSHIP,
        )
    assert set(err.value.fields) == {"apology", "rework_start"}
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.CONTACTED


def test_steps_out_of_order_are_refused(site, make_user):
    complaint = _complaint(site, make_user)
    manager = make_user(Role.MANAGER)
    with pytest.raises(ConflictError, match="Allowed next"):
        services.complaint_resolve(complaint_id=complaint.pk, actor=manager, resolution="x")


def test_the_advisor_concerned_cannot_handle_the_complaint(site, make_user):
    complaint = _complaint(site, make_user)
    manager = make_user(Role.MANAGER)
    with pytest.raises(PermissionDeniedError):
        services.complaint_assign(
            complaint_id=complaint.pk, actor=manager, handler=complaint.advisor
        )


def test_overdue_complaints_escalate_once(site, make_user):
    complaint = _complaint(site, make_user)
    later = complaint.respond_by + timedelta(minutes=1)
    assert services.complaints_escalate(now=complaint.respond_by - timedelta(minutes=1)) == 0
    assert services.complaints_escalate(now=later) == 1
    assert services.complaints_escalate(now=later) == 0
    complaint.refresh_from_db()
    assert complaint.escalated_at == later
    assert audit.history(complaint).last().action == "escalated"


def test_manager_can_take_over_a_complaint_in_progress(site, make_user):
    complaint = _complaint(site, make_user)
    handler = make_user(Role.FOLLOWUP_AGENT)
    manager = make_user(Role.MANAGER)
    services.complaint_assign(complaint_id=complaint.pk, actor=handler, handler=handler)
    services.complaint_contact(complaint_id=complaint.pk, actor=handler, note="called")
    # the agent cannot hand it over to someone else; the manager can take it over
    with pytest.raises(PermissionDeniedError):
        services.complaint_assign(complaint_id=complaint.pk, actor=handler, handler=manager)
    complaint = services.complaint_assign(complaint_id=complaint.pk, actor=manager, handler=manager)
    assert complaint.handler == manager
    assert complaint.status == ComplaintStatus.CONTACTED
