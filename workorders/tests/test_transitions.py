"""Every legal and illegal move of the repair-order table, through the services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dms.audit import history
from dms.exceptions import ConflictError
from workorders import services as s
from workorders.models import JobLine, RepairOrder
from workorders.models import ROStatus as S
from workorders.tests.factories import FINAL_ALL, HANDOVER_ALL, QC_ALL, ro_in_state, staff_for
from workorders.transitions import STATE_ACTIONS, TRANSITIONS


def _do(action: str, ro: RepairOrder, staff: dict) -> None:
    adv, tech, qc = staff["advisor"], staff["tech"], staff["qc"]
    rid = ro.pk
    if action == "authorize":
        s.ro_authorize(
            repair_order_id=rid,
            actor=adv,
            channel="phone",
            customer_name="王先生",
            promised_at=timezone.now() + timedelta(hours=5),
        )
    elif action == "start":
        s.ro_start(repair_order_id=rid, actor=tech)
    elif action == "request-approval":
        s.job_line_add(repair_order_id=rid, actor=adv, description="Wipers", standard_hours="0.2")
        s.ro_request_approval(repair_order_id=rid, actor=adv)
    elif action == "answer-approval":
        line = ro.lines.filter(approval=JobLine.Approval.PROPOSED).first() or ro.lines.first()
        s.ro_answer_approval(
            repair_order_id=rid,
            actor=adv,
            channel="phone",
            answers=[{"job_id": line.pk, "decision": "approved"}],
        )
    elif action == "wait-parts":
        s.ro_wait_parts(repair_order_id=rid, actor=tech, part="Brake pad set")
    elif action == "resume":
        s.ro_resume(repair_order_id=rid, actor=tech)
    elif action == "complete-work":
        ro.lines.filter(approval__in=["authorized", "approved"]).update(work_status="done")
        s.ro_complete_work(repair_order_id=rid, actor=tech)
    elif action == "qc-pass":
        s.ro_qc_pass(repair_order_id=rid, actor=qc, checklist=QC_ALL)
    elif action == "qc-fail":
        s.ro_qc_fail(repair_order_id=rid, actor=qc, reason="Squeal")
    elif action == "wash-done":
        s.ro_wash_done(repair_order_id=rid, actor=tech)
    elif action == "final-check":
        if ro.status == S.WASHING:
            s.ro_wash_done(repair_order_id=rid, actor=tech)
        s.ro_final_check(repair_order_id=rid, actor=adv, checklist=FINAL_ALL)
    elif action == "invoice":
        s.ro_invoice(repair_order_id=rid, actor=adv)
    elif action == "deliver":
        # the same details as the factory's delivery: an identical repeat is a no-op
        s.ro_deliver(repair_order_id=rid, actor=adv, payment_method="wechat", handover=HANDOVER_ALL)
    elif action == "cancel":
        s.ro_cancel(repair_order_id=rid, actor=adv, reason="Customer changed plans")
    else:  # pragma: no cover
        raise AssertionError(action)


# where a successful action leaves the RO
RESULT = {
    "authorize": S.AUTHORIZED,
    "start": S.IN_PROGRESS,
    "request-approval": S.WAITING_APPROVAL,
    "answer-approval": S.IN_PROGRESS,
    "wait-parts": S.WAITING_PARTS,
    "resume": S.IN_PROGRESS,
    "complete-work": S.WORK_DONE,
    "qc-pass": S.WASHING,
    "qc-fail": S.REWORK,
    "wash-done": S.WASHING,
    "final-check": S.READY,
    "invoice": S.INVOICED,
    "deliver": S.DELIVERED,
    "cancel": S.CANCELLED,
}
ALL_ACTIONS = list(RESULT)


def _expected(state: str, action: str) -> str:
    if action in STATE_ACTIONS[state]:
        return "ok"
    if action == "answer-approval":
        return "conflict"
    if RESULT[action] == state or (action == "resume" and state == S.AUTHORIZED):
        return "noop"
    return "conflict"


@pytest.mark.django_db
@pytest.mark.parametrize("state", list(S.values))
@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_every_action_in_every_state(state, action):
    # given an RO driven to `state` by the services
    ro = ro_in_state(state)
    staff = {
        "advisor": ro.advisor,
        "tech": staff_for(ro.site)["tech"],
        "qc": staff_for(ro.site)["qc"],
    }
    moves_before = history(ro).exclude(to_state="").count()
    expected = _expected(state, action)
    if expected == "conflict":
        # then an illegal move is refused with the allowed actions listed, nothing changes
        with pytest.raises(ConflictError) as exc:
            _do(action, ro, staff)
        assert exc.value.status_code == 409
        assert exc.value.extra["actions"] == STATE_ACTIONS[state]
        ro.refresh_from_db()
        assert ro.status == state
    elif expected == "noop":
        _do(action, ro, staff)
        ro.refresh_from_db()
        assert ro.status == state
        assert history(ro).exclude(to_state="").count() == moves_before
    else:
        # resume goes back to where the work paused
        target = (ro.paused_from or S.IN_PROGRESS) if action == "resume" else RESULT[action]
        _do(action, ro, staff)
        ro.refresh_from_db()
        assert ro.status == target
        assert history(ro).filter(to_state=ro.status).exists()


def test_table_moves_only_to_known_states_and_ends_are_terminal():
    for state, nexts in TRANSITIONS.items():
        assert set(nexts) <= set(S.values), state
    assert TRANSITIONS[S.DELIVERED] == set()
    assert TRANSITIONS[S.CANCELLED] == set()
    # cancelled from every state before invoiced, never after
    for state in S.values:
        before_invoice = state not in (S.INVOICED, S.DELIVERED, S.CANCELLED)
        assert (S.CANCELLED in TRANSITIONS[state]) == before_invoice, state


@pytest.mark.django_db
def test_repeated_identical_move_is_harmless():
    ro = ro_in_state(S.IN_PROGRESS)
    tech = staff_for(ro.site)["tech"]
    s.ro_wait_parts(repair_order_id=ro.pk, actor=tech, part="Pads")
    count = history(ro).count()
    s.ro_wait_parts(repair_order_id=ro.pk, actor=tech, part="Pads")
    ro.refresh_from_db()
    assert ro.status == S.WAITING_PARTS
    assert history(ro).count() == count
