"""The workshop driving the real repair-order state machine through its services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dms.exceptions import ConflictError
from dms.models import Role
from workorders.models import JobLine, ROStatus
from workorders.tests.factories import JobLineFactory
from workshop import services
from workshop.models import QCInspection

pytestmark = pytest.mark.django_db

SELF_CHECK = {key: True for key, _label in services.SELF_CHECK_ITEMS}
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


def _status(job) -> str:
    job.repair_order.refresh_from_db()
    return job.repair_order.status


def test_first_clock_on_starts_the_repair_order(tech, make_job):
    job = make_job(status=ROStatus.AUTHORIZED, technician=tech)
    services.job_clock_on(job_id=job.pk, actor=tech)
    assert _status(job) == ROStatus.IN_PROGRESS


def test_last_sign_off_completes_the_work_and_qc_passes_it_to_washing(make_user, tech, make_job):
    # given an RO with two jobs, both worked by the technician
    job = make_job(status=ROStatus.AUTHORIZED, technician=tech)
    second = JobLineFactory(repair_order=job.repair_order, technician=tech)
    t0 = timezone.now() - timedelta(hours=2)
    for j, start in ((job, t0), (second, t0 + timedelta(hours=1))):
        services.job_clock_on(job_id=j.pk, actor=tech, now=start)
        services.job_sign_off(
            job_id=j.pk,
            actor=tech,
            self_check=SELF_CHECK,
            report="done",
            now=start + timedelta(minutes=40),
        )
        # then the first signature leaves the RO in progress, the second completes the work
        if j == job:
            assert _status(job) == ROStatus.IN_PROGRESS
    assert _status(job) == ROStatus.WORK_DONE
    job.refresh_from_db()
    assert job.actual_hours == Decimal("0.67")
    # when the QC inspector ticks every line and item
    inspector = make_user(Role.QC_INSPECTOR)
    checklist = {f"line_{j.pk}": "1" for j in (job, second)}
    checklist.update({key: "1" for key, _label in services.QC_ITEMS})
    services.qc_pass(repair_order_id=job.repair_order_id, actor=inspector, checklist=checklist)
    # then the car goes to washing, and the inspection is on record
    assert _status(job) == ROStatus.WASHING
    assert QCInspection.objects.get().passed


def test_failed_qc_sends_the_work_back_as_rework(make_user, tech, make_job):
    job = make_job(status=ROStatus.AUTHORIZED, technician=tech)
    services.job_clock_on(job_id=job.pk, actor=tech)
    services.job_sign_off(job_id=job.pk, actor=tech, self_check=SELF_CHECK)
    inspector = make_user(Role.QC_INSPECTOR)
    services.qc_fail(
        repair_order_id=job.repair_order_id, actor=inspector, reason="Brake squeal remains"
    )
    assert _status(job) == ROStatus.REWORK
    assert job.repair_order.qc_fail_count == 1
    # the technician reopens the signed job: the RO is back in progress
    services.job_clock_on(job_id=job.pk, actor=tech)
    job.refresh_from_db()
    assert job.work_status == JobLine.WorkStatus.IN_PROGRESS
    assert _status(job) == ROStatus.IN_PROGRESS


def test_missing_part_puts_the_ro_on_hold_until_it_arrives(tech, make_job):
    job = make_job(status=ROStatus.IN_PROGRESS, technician=tech)
    services.job_clock_on(job_id=job.pk, actor=tech)
    services.job_request_parts(
        job_id=job.pk,
        actor=tech,
        part="Water pump",
        expected_date=timezone.localdate() + timedelta(days=1),
    )
    assert _status(job) == ROStatus.WAITING_PARTS
    assert job.repair_order.waiting_part == "Water pump"
    services.job_parts_arrived(job_id=job.pk, actor=tech)
    assert _status(job) == ROStatus.IN_PROGRESS
    services.job_clock_on(job_id=job.pk, actor=tech)


def test_finding_becomes_a_proposed_line_and_blocks_the_clock(tech, make_job):
    job = make_job(status=ROStatus.IN_PROGRESS, technician=tech)
    photo = SimpleUploadedFile("leak.png", PNG_1PX, content_type="image/png")
    proposed = services.job_report_finding(
        job_id=job.pk,
        actor=tech,
        description="Water pump leaking",
        standard_hours=Decimal("1.5"),
        photos=[photo],
    )
    assert proposed.approval == JobLine.Approval.PROPOSED
    assert proposed.is_additional
    assert _status(job) == ROStatus.WAITING_APPROVAL
    # the authorized work is unchanged, and nothing may be clocked until the customer answers
    job.refresh_from_db()
    assert job.approval == JobLine.Approval.AUTHORIZED
    with pytest.raises(ConflictError, match="approval"):
        services.job_clock_on(job_id=job.pk, actor=tech)
