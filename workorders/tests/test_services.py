"""Repair-order services: opening, intake guards, estimate versions, approvals, settlement."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Customer, Vehicle
from customers.tests.factories import VehicleFactory
from dms.audit import history
from dms.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from dms.models import Role
from dms.tests.factories import make_staff
from workorders import services as s
from workorders.models import Approval, ApprovalLink, JobLine, PartLine, RepairOrder
from workorders.models import ROStatus as S
from workorders.tests.factories import (
    HANDOVER_ALL,
    PNG_1PX,
    QC_ALL,
    ro_in_state,
    staff_for,
)

pytestmark = pytest.mark.django_db


def _open(vehicle, advisor, **kw):
    return s.repair_order_open(
        site=vehicle.site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=advisor,
        actor=advisor,
        **kw,
    )


# --- open ------------------------------------------------------------------------------------
def test_numbers_run_per_site_and_year():
    v1 = VehicleFactory()
    v2 = VehicleFactory()
    adv1 = make_staff(role=Role.ADVISOR, site=v1.site)
    adv2 = make_staff(role=Role.ADVISOR, site=v2.site)
    year = timezone.localdate().year
    a = _open(v1, adv1)
    b = _open(v1, adv1)
    c = _open(v2, adv2)
    assert (a.number, b.number) == (f"RO-{year}-000001", f"RO-{year}-000002")
    assert c.number == f"RO-{year}-000001"
    assert a.status == S.DRAFT
    assert history(a).filter(action="opened").exists()


def test_open_refuses_other_sites_vehicle_and_non_advisor():
    vehicle = VehicleFactory()
    other = VehicleFactory()
    adv = make_staff(role=Role.ADVISOR, site=vehicle.site)
    tech = make_staff(role=Role.TECHNICIAN, site=vehicle.site)
    with pytest.raises(ApplicationError) as exc:
        s.repair_order_open(
            site=vehicle.site, customer=other.owner, vehicle=other, advisor=adv, actor=adv
        )
    assert "vehicle" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        _open(vehicle, tech)
    assert isinstance(exc.value, PermissionDeniedError)
    assert RepairOrder.objects.count() == 0


def test_open_from_appointment_twice_returns_the_same_ro():
    from appointments.models import Appointment

    vehicle = VehicleFactory()
    adv = make_staff(role=Role.ADVISOR, site=vehicle.site)
    start = timezone.now()
    appt = Appointment.objects.create(
        site=vehicle.site,
        customer=vehicle.owner,
        vehicle=vehicle,
        advisor=adv,
        start=start,
        end=start + timedelta(minutes=15),
        day=start.date(),
        notes="Oil change",
    )
    first = _open(vehicle, adv, appointment=appt)
    again = _open(vehicle, adv, appointment=appt)
    assert first.pk == again.pk
    assert first.concern == "Oil change"


def test_comeback_flagged_within_window_and_advisor_decides():
    delivered = ro_in_state(S.DELIVERED)
    adv = delivered.advisor
    ro = _open(delivered.vehicle, adv, concern="Brake noise again")
    assert ro.comeback_of_id == delivered.pk
    assert ro.comeback_confirmed is None
    s.ro_comeback_decide(repair_order_id=ro.pk, actor=adv, confirmed=False, note="Other issue")
    ro.refresh_from_db()
    assert ro.comeback_confirmed is False
    assert history(ro).filter(action="comeback_cleared").exists()


def test_no_comeback_flag_after_the_window():
    delivered = ro_in_state(S.DELIVERED)
    days = delivered.site.comeback_days
    RepairOrder.objects.filter(pk=delivered.pk).update(
        delivered_at=timezone.now() - timedelta(days=days + 1)
    )
    ro = _open(delivered.vehicle, delivered.advisor)
    assert ro.comeback_of is None


# --- intake ----------------------------------------------------------------------------------
def test_odometer_below_last_reading_needs_a_reason():
    vehicle = VehicleFactory(mileage_km=50000)
    adv = make_staff(role=Role.ADVISOR, site=vehicle.site)
    with pytest.raises(ApplicationError) as exc:
        _open(vehicle, adv, odometer_km=1000)
    assert "odometer_km" in exc.value.fields
    ro = _open(vehicle, adv)
    with pytest.raises(ApplicationError) as exc:
        s.intake_record(repair_order_id=ro.pk, actor=adv, covers_fitted=True, odometer_km=49000)
    assert "odometer_reason" in exc.value.fields
    intake = s.intake_record(
        repair_order_id=ro.pk,
        actor=adv,
        covers_fitted=True,
        odometer_km=49000,
        odometer_reason="Cluster replaced under warranty",
    )
    assert intake.odometer_km == 49000
    assert intake.odometer_reason.startswith("Cluster")


def test_vin_mismatch_must_be_acknowledged():
    vehicle = VehicleFactory()
    adv = make_staff(role=Role.ADVISOR, site=vehicle.site)
    ro = _open(vehicle, adv)
    wrong = vehicle.vin[:-1] + ("1" if vehicle.vin[-1] != "1" else "2")
    with pytest.raises(ApplicationError) as exc:
        s.intake_record(repair_order_id=ro.pk, actor=adv, covers_fitted=True, vin_read=wrong)
    assert "differs from the archive" in exc.value.fields["vin_read"][0]
    intake = s.intake_record(
        repair_order_id=ro.pk,
        actor=adv,
        covers_fitted=True,
        vin_read=wrong.lower(),
        vin_mismatch_acknowledged=True,
    )
    assert intake.vin_mismatch
    assert intake.vin_mismatch_acknowledged


def test_first_service_requires_underbody_check_and_photos_are_stored():
    from django.core.files.uploadedfile import SimpleUploadedFile

    vehicle = VehicleFactory()
    adv = make_staff(role=Role.ADVISOR, site=vehicle.site)
    ro = _open(vehicle, adv, is_first_service=True)
    with pytest.raises(ApplicationError) as exc:
        s.intake_record(repair_order_id=ro.pk, actor=adv, covers_fitted=True)
    assert "underbody_checked" in exc.value.fields
    photo = SimpleUploadedFile("door.png", PNG_1PX, content_type="image/png")
    s.intake_record(
        repair_order_id=ro.pk,
        actor=adv,
        covers_fitted=True,
        underbody_checked=True,
        damage={"left_side": "Scratch on rear door"},
        photos=[("left_side", photo)],
        symptom_engine="cold",
        symptom_pattern="intermittent",
        symptom_since="Two weeks",
    )
    saved = ro.photos.get()
    assert saved.panel == "left_side"
    assert saved.image.read().startswith(b"\x89PNG")
    bad = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
    with pytest.raises(ApplicationError) as exc:
        s.intake_record(
            repair_order_id=ro.pk,
            actor=adv,
            covers_fitted=True,
            underbody_checked=True,
            photos=[("roof", bad)],
        )
    assert "photos" in exc.value.fields
    assert ro.photos.count() == 1


# --- estimate and authorization --------------------------------------------------------------
def test_estimate_totals_labour_rate_parts_discount_tax():
    ro = ro_in_state(S.DRAFT, hours="2")
    site = ro.site
    line = ro.lines.get()
    assert line.labour_amount == (Decimal("2") * site.labour_rate).quantize(Decimal("0.01"))
    s.job_line_update(job_id=line.pk, actor=ro.advisor, discount="50")
    ro.refresh_from_db()
    net = Decimal("2") * site.labour_rate + Decimal("420") - Decimal("50")
    assert ro.discount_total == Decimal("50.00")
    assert ro.tax_total == (net * site.tax_rate).quantize(Decimal("0.01"))
    assert ro.grand_total == net + ro.tax_total


def test_authorization_needs_lines_intake_and_promised_time():
    vehicle = VehicleFactory()
    adv = make_staff(role=Role.ADVISOR, site=vehicle.site)
    ro = _open(vehicle, adv)
    with pytest.raises(ApplicationError) as exc:
        s.ro_authorize(repair_order_id=ro.pk, actor=adv, channel="phone")
    assert {"lines", "intake", "promised_at"} <= set(exc.value.fields)
    ro.refresh_from_db()
    assert ro.status == S.DRAFT


def test_signature_is_stored_as_png_and_remote_approval_records_who_how_when():
    ro = ro_in_state(S.AUTHORIZED)
    approval = ro.approvals.get(kind=Approval.Kind.AUTHORIZATION)
    assert approval.channel == "signature"
    assert approval.signature.read().startswith(b"\x89PNG")
    assert approval.estimate_version == 1
    assert ro.not_to_exceed == ro.grand_total
    assert ro.lines.get().approval == JobLine.Approval.AUTHORIZED

    draft = ro_in_state(S.DRAFT)
    s.ro_authorize(
        repair_order_id=draft.pk,
        actor=draft.advisor,
        channel="phone",
        customer_name="王先生 (owner)",
        promised_at=timezone.now() + timedelta(hours=3),
        not_to_exceed="2000",
    )
    remote = draft.approvals.get()
    assert (remote.customer_name, remote.channel) == ("王先生 (owner)", "phone")
    assert remote.answered_at is not None
    assert remote.recorded_by == draft.advisor
    assert not remote.signature


def test_bad_signature_is_a_field_error():
    ro = ro_in_state(S.DRAFT)
    with pytest.raises(ApplicationError) as exc:
        s.ro_authorize(
            repair_order_id=ro.pk,
            actor=ro.advisor,
            channel="signature",
            signature="data:image/png;base64,AAAA",
            promised_at=timezone.now() + timedelta(hours=3),
        )
    assert "signature" in exc.value.fields


def test_nothing_dispatched_before_authorization():
    ro = ro_in_state(S.DRAFT)
    tech = staff_for(ro.site)["tech"]
    with pytest.raises(ConflictError) as exc:
        s.ro_start(repair_order_id=ro.pk, actor=tech)
    assert exc.value.extra["actions"] == ["authorize", "cancel"]


# --- additional work -------------------------------------------------------------------------
def test_finding_becomes_proposed_line_and_only_approved_lines_can_be_worked():
    ro = ro_in_state(S.WAITING_APPROVAL)
    adv = ro.advisor
    tech = staff_for(ro.site)["tech"]
    proposed = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    assert proposed.is_additional
    assert not proposed.is_workable
    assert ro.estimate_version == 2
    # work may continue on the authorized lines, but the RO can't finish with an open question
    s.ro_resume(repair_order_id=ro.pk, actor=tech)
    ro.lines.filter(approval="authorized").update(work_status="done")
    with pytest.raises(ConflictError) as exc:
        s.ro_complete_work(repair_order_id=ro.pk, actor=tech)
    assert "not answered" in exc.value.message
    s.ro_request_approval(repair_order_id=ro.pk, actor=adv)
    s.ro_answer_approval(
        repair_order_id=ro.pk,
        actor=adv,
        channel="phone",
        customer_name="王先生",
        answers=[{"job_id": proposed.pk, "decision": "declined", "reason": "Next time"}],
    )
    proposed.refresh_from_db()
    ro.refresh_from_db()
    assert proposed.approval == JobLine.Approval.DECLINED
    assert proposed.declined_reason == "Next time"
    assert proposed.amount > 0  # the price is kept for later proactive calls
    assert ro.status == S.IN_PROGRESS
    answer = ro.approvals.get(kind=Approval.Kind.ADDITIONAL)
    assert (answer.channel, answer.estimate_version) == ("phone", 2)
    s.ro_complete_work(repair_order_id=ro.pk, actor=tech)


def test_price_change_after_approval_needs_a_new_answer():
    ro = ro_in_state(S.WAITING_APPROVAL)
    adv = ro.advisor
    proposed = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    s.ro_answer_approval(
        repair_order_id=ro.pk,
        actor=adv,
        channel="phone",
        answers=[{"job_id": proposed.pk, "decision": "approved"}],
        estimate_version=2,
    )
    proposed.refresh_from_db()
    assert proposed.approval == JobLine.Approval.APPROVED
    assert proposed.approved_version == 2
    s.job_line_update(job_id=proposed.pk, actor=adv, standard_hours="1.5")
    proposed.refresh_from_db()
    ro.refresh_from_db()
    assert proposed.approval == JobLine.Approval.PROPOSED
    assert ro.estimate_version == 3
    # an answer given on the old version is refused
    with pytest.raises(ConflictError) as exc:
        s.ro_answer_approval(
            repair_order_id=ro.pk,
            actor=adv,
            channel="phone",
            answers=[{"job_id": proposed.pk, "decision": "approved"}],
            estimate_version=2,
        )
    assert exc.value.extra["estimate_version"] == 3


# --- the private link ------------------------------------------------------------------------
def test_link_answer_records_channel_version_and_resumes_work():
    ro = ro_in_state(S.WAITING_APPROVAL)
    s.ro_request_approval(repair_order_id=ro.pk, actor=ro.advisor)
    link = ro.approval_links.get()
    assert len(link.token) >= 40
    proposed = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    approval = s.approval_link_answer(
        token=link.token,
        customer_name="王先生",
        answers=[{"job_id": proposed.pk, "decision": "approved"}],
    )
    assert approval.channel == "link"
    assert approval.recorded_by is None
    assert approval.estimate_version == link.estimate_version
    ro.refresh_from_db()
    assert ro.status == S.IN_PROGRESS
    # already answered
    with pytest.raises(ConflictError) as exc:
        s.approval_link_answer(
            token=link.token, answers=[{"job_id": proposed.pk, "decision": "approved"}]
        )
    assert "already been answered" in exc.value.message


def test_link_expired_wrong_token_and_changed_estimate():
    ro = ro_in_state(S.WAITING_APPROVAL)
    s.ro_request_approval(repair_order_id=ro.pk, actor=ro.advisor)
    link = ro.approval_links.get()
    proposed = ro.lines.get(approval=JobLine.Approval.PROPOSED)
    answers = [{"job_id": proposed.pk, "decision": "approved"}]
    with pytest.raises(NotFoundError):
        s.approval_link_answer(token=link.token[:-2] + "xx", answers=answers)
    ApprovalLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(1))
    with pytest.raises(ConflictError) as exc:
        s.approval_link_answer(token=link.token, answers=answers)
    assert exc.value.extra.get("expired")
    ApprovalLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() + timedelta(1))
    s.job_line_update(job_id=proposed.pk, actor=ro.advisor, discount="10")
    with pytest.raises(ConflictError) as exc:
        s.approval_link_answer(token=link.token, answers=answers)
    assert "must answer the new version" in exc.value.message
    proposed.refresh_from_db()
    assert proposed.approval == JobLine.Approval.PROPOSED


# --- QC, rework, delay -----------------------------------------------------------------------
def test_qc_fail_counts_and_late_rework_needs_customer_told():
    ro = ro_in_state(S.WORK_DONE)
    qc = staff_for(ro.site)["qc"]
    tech = staff_for(ro.site)["tech"]
    with pytest.raises(ApplicationError) as exc:
        s.ro_qc_fail(repair_order_id=ro.pk, actor=qc, reason="")
    assert "reason" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        s.ro_qc_pass(repair_order_id=ro.pk, actor=qc, checklist={**QC_ALL, "brakes": False})
    assert "Brakes" in exc.value.message
    RepairOrder.objects.filter(pk=ro.pk).update(promised_at=timezone.now() + timedelta(minutes=20))
    s.ro_qc_fail(repair_order_id=ro.pk, actor=qc, reason="Pedal feels soft")
    ro.refresh_from_db()
    assert (ro.status, ro.qc_fail_count, ro.qc_fail_reason) == (S.REWORK, 1, "Pedal feels soft")
    with pytest.raises(ConflictError) as exc:
        s.ro_start(repair_order_id=ro.pk, actor=tech)
    assert "promised_at" in exc.value.fields
    new_time = timezone.now() + timedelta(hours=3)
    s.ro_record_delay(repair_order_id=ro.pk, actor=ro.advisor, promised_at=new_time)
    s.ro_start(repair_order_id=ro.pk, actor=tech)
    ro.refresh_from_db()
    assert ro.status == S.IN_PROGRESS
    assert ro.promised_at == new_time
    assert ro.first_promised_at != new_time


def test_qc_needs_the_qc_role():
    ro = ro_in_state(S.WORK_DONE)
    with pytest.raises(PermissionDeniedError):
        s.ro_qc_pass(repair_order_id=ro.pk, actor=staff_for(ro.site)["tech"], checklist=QC_ALL)


# --- settlement and delivery -----------------------------------------------------------------
def test_settlement_above_not_to_exceed_needs_an_approval_on_record():
    ro = ro_in_state(S.READY)
    # parts added in the workshop after authorization push the total up
    PartLine.objects.create(job=ro.lines.get(), name="Sensor", unit_price=Decimal("900"))
    with pytest.raises(ConflictError) as exc:
        s.ro_invoice(repair_order_id=ro.pk, actor=ro.advisor)
    assert "grand_total" in exc.value.fields
    ro.refresh_from_db()
    assert ro.status == S.READY
    s.ro_approve_total(repair_order_id=ro.pk, actor=ro.advisor, amount="5000", channel="phone")
    s.ro_invoice(repair_order_id=ro.pk, actor=ro.advisor)
    ro.refresh_from_db()
    assert ro.status == S.INVOICED
    assert ro.parts_total == Decimal("1320.00")


def test_delivery_updates_vehicle_customer_and_next_service():
    ro = ro_in_state(S.INVOICED)
    with pytest.raises(ApplicationError) as exc:
        s.ro_deliver(
            repair_order_id=ro.pk,
            actor=ro.advisor,
            payment_method="bitcoin",
            handover={**HANDOVER_ALL, "bill_explained": False},
        )
    assert {"payment_method", "handover"} <= set(exc.value.fields)
    s.ro_deliver(
        repair_order_id=ro.pk, actor=ro.advisor, payment_method="card", handover=HANDOVER_ALL
    )
    ro.refresh_from_db()
    vehicle = Vehicle.objects.get(pk=ro.vehicle_id)
    customer = Customer.objects.get(pk=ro.customer_id)
    assert ro.status == S.DELIVERED
    assert ro.payment_method == "card"
    assert vehicle.mileage_km == ro.odometer_km
    assert vehicle.last_visit_at == ro.delivered_at
    assert customer.last_delivery_at == ro.delivered_at
    assert vehicle.next_service_due_km == ro.odometer_km + vehicle.service_interval_km
    assert vehicle.next_service_due_date == ro.next_service_due_date
    assert ro.next_service_due_date > timezone.localdate()


def test_cancel_needs_a_reason_and_is_refused_after_invoice():
    ro = ro_in_state(S.IN_PROGRESS)
    with pytest.raises(ApplicationError):
        s.ro_cancel(repair_order_id=ro.pk, actor=ro.advisor, reason=" ")
    s.ro_cancel(repair_order_id=ro.pk, actor=ro.advisor, reason="Customer took the car")
    ro.refresh_from_db()
    assert ro.cancel_reason == "Customer took the car"
    invoiced = ro_in_state(S.INVOICED)
    with pytest.raises(ConflictError):
        s.ro_cancel(repair_order_id=invoiced.pk, actor=invoiced.advisor, reason="x")


# --- concurrency -----------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_moves_on_one_ro_leave_exactly_one_winner():
    ro = ro_in_state(S.READY)
    adv = ro.advisor
    results: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        try:
            barrier.wait()
            if i % 2:
                s.ro_invoice(repair_order_id=ro.pk, actor=adv)
                results.append("invoice")
            else:
                s.ro_cancel(repair_order_id=ro.pk, actor=adv, reason="race")
                results.append("cancel")
        except ConflictError:
            results.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ro.refresh_from_db()
    winners = {r for r in results if r != "conflict"}
    assert len(winners) == 1
    assert ro.status == {"invoice": S.INVOICED, "cancel": S.CANCELLED}[winners.pop()]
    # the losing side got 409s; the winner's move is in the audit trail exactly once
    assert results.count("conflict") == 4
    assert history(ro).filter(to_state=ro.status).count() == 1


def test_delivery_schedules_the_follow_up_and_books_the_next_visit_in_one_step():
    from datetime import datetime, time

    from appointments.models import Appointment
    from outreach.models import CallTask, TaskKind

    ro = ro_in_state(S.INVOICED)
    site = ro.site
    day = timezone.localdate() + timedelta(days=30)
    while day.weekday() != 0:  # a Monday, when the site is open
        day += timedelta(days=1)
    start = datetime.combine(day, time(9, 0), tzinfo=site.tzinfo)
    s.ro_deliver(
        repair_order_id=ro.pk,
        actor=ro.advisor,
        payment_method="cash",
        handover=HANDOVER_ALL,
        book_next={"start": start, "estimated_hours": "1.0"},
    )
    follow_up = CallTask.objects.get(repair_order=ro, kind=TaskKind.FOLLOWUP)
    assert follow_up.assignee != ro.advisor
    booked = Appointment.objects.get(vehicle=ro.vehicle)
    assert booked.start == start
    assert booked.advisor == ro.advisor
    assert ro.number in booked.notes


def test_failed_booking_leaves_the_car_undelivered():
    ro = ro_in_state(S.INVOICED)
    with pytest.raises(ApplicationError) as exc:
        s.ro_deliver(
            repair_order_id=ro.pk,
            actor=ro.advisor,
            payment_method="cash",
            handover=HANDOVER_ALL,
            book_next={"start": "tomorrow"},
        )
    assert "book_next.start" in exc.value.fields
    ro.refresh_from_db()
    assert ro.status == S.INVOICED
    assert ro.customer.last_delivery_at is None
