import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dms.audit import history
from dms.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from dms.models import DispatchMode, Role, StaffRole
from dms.tests.factories import SiteFactory, make_staff
from workorders.models import JobLine, RepairOrder, ROStatus
from workorders.tests.factories import JobLineFactory
from workshop import services
from workshop.models import Bay, ClockEntry

pytestmark = pytest.mark.django_db


# --- dispatch modes --------------------------------------------------------------------------
class TestAssignDispatcherMode:
    def test_dispatcher_assigns_technician_and_bay(self, site, make_user, tech, make_job):
        # given a dispatcher-mode site, a bay and an unassigned job
        Bay.objects.create(site=site, code="B3")
        dispatcher = make_user(Role.DISPATCHER)
        job = make_job(status=ROStatus.AUTHORIZED)
        # when the dispatcher assigns it
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher, bay="B3")
        # then the job shows the technician and bay, and the audit trail says who did it
        job.refresh_from_db()
        assert (job.technician, job.bay) == (tech, "B3")
        entry = history(job).last()
        assert (entry.action, entry.actor, entry.site) == ("job_assigned", dispatcher, site)

    def test_advisor_is_refused_with_who_dispatches(self, make_user, tech, make_job):
        advisor = make_user(Role.ADVISOR)
        job = make_job()
        with pytest.raises(PermissionDeniedError, match="dispatcher mode"):
            services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=advisor)
        job.refresh_from_db()
        assert job.technician is None

    def test_manager_may_assign(self, make_user, tech, make_job):
        job = make_job()
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=make_user(Role.MANAGER))
        job.refresh_from_db()
        assert job.technician == tech

    def test_technician_cannot_assign_themselves(self, tech, make_job):
        job = make_job()
        with pytest.raises(PermissionDeniedError):
            services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=tech)

    def test_unknown_bay_and_non_technician_are_field_errors(self, make_user, tech, make_job):
        dispatcher = make_user(Role.DISPATCHER)
        job = make_job()
        with pytest.raises(ApplicationError) as bay_error:
            services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher, bay="X9")
        assert "bay" in bay_error.value.fields
        with pytest.raises(ApplicationError) as tech_error:
            services.job_assign(job_id=job.pk, technician_id=dispatcher.pk, actor=dispatcher)
        assert "technician_id" in tech_error.value.fields

    def test_draft_ro_is_not_dispatched(self, make_user, tech, make_job):
        job = make_job(status=ROStatus.DRAFT)
        with pytest.raises(ConflictError):
            services.job_assign(
                job_id=job.pk, technician_id=tech.pk, actor=make_user(Role.DISPATCHER)
            )

    def test_other_sites_job_is_not_found(self, make_user, tech, make_job):
        job = make_job()
        stranger = make_staff(role=Role.DISPATCHER, site=SiteFactory())
        with pytest.raises(NotFoundError):
            services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=stranger)

    def test_same_assignment_twice_writes_one_audit_row(self, make_user, tech, make_job):
        dispatcher = make_user(Role.DISPATCHER)
        job = make_job()
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher)
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=dispatcher)
        assert history(job).filter(action="job_assigned").count() == 1


class TestAssignTeamMode:
    @pytest.fixture(autouse=True)
    def team_mode(self, site):
        site.dispatch_mode = DispatchMode.TEAM
        site.save()

    def test_advisor_assigns_within_their_team(self, site, make_user, tech, make_job):
        advisor = make_user(Role.ADVISOR)
        StaffRole.objects.filter(user=tech, site=site).update(team_lead=advisor)
        job = make_job()
        services.job_assign(job_id=job.pk, technician_id=tech.pk, actor=advisor)
        job.refresh_from_db()
        assert job.technician == tech

    def test_advisor_cannot_assign_another_team(self, make_user, tech, make_job):
        advisor = make_user(Role.ADVISOR)
        with pytest.raises(PermissionDeniedError, match="not in your team"):
            services.job_assign(job_id=make_job().pk, technician_id=tech.pk, actor=advisor)

    def test_dispatcher_is_refused_with_who_dispatches(self, make_user, tech, make_job):
        dispatcher = make_user(Role.DISPATCHER)
        with pytest.raises(PermissionDeniedError, match="team mode"):
            services.job_assign(job_id=make_job().pk, technician_id=tech.pk, actor=dispatcher)


# --- clock on/off ----------------------------------------------------------------------------
class TestClockOnRefusals:
    @pytest.mark.parametrize(
        ("status", "reason"),
        [
            (ROStatus.DRAFT, "not authorized"),
            (ROStatus.WAITING_APPROVAL, "approval"),
            (ROStatus.WAITING_PARTS, "waiting for parts"),
            (ROStatus.QC, "quality check"),
        ],
    )
    def test_ro_not_in_workshop_states(self, tech, make_job, status, reason):
        job = make_job(status=status, technician=tech)
        with pytest.raises(ConflictError, match=reason):
            services.job_clock_on(job_id=job.pk, actor=tech)
        assert not ClockEntry.objects.exists()

    def test_proposed_job_waits_for_the_customer(self, tech, make_job):
        job = make_job(technician=tech, approval=JobLine.Approval.PROPOSED)
        with pytest.raises(ConflictError, match="waiting for the customer's approval"):
            services.job_clock_on(job_id=job.pk, actor=tech)

    def test_declined_job(self, tech, make_job):
        job = make_job(technician=tech, approval=JobLine.Approval.DECLINED)
        with pytest.raises(ConflictError, match="declined"):
            services.job_clock_on(job_id=job.pk, actor=tech)

    def test_job_waiting_for_parts(self, tech, make_job):
        job = make_job(technician=tech, work_status=JobLine.WorkStatus.WAITING_PARTS)
        with pytest.raises(ConflictError, match="waiting for parts"):
            services.job_clock_on(job_id=job.pk, actor=tech)

    def test_someone_elses_job(self, make_user, tech, make_job):
        job = make_job(technician=make_user(Role.TECHNICIAN))
        with pytest.raises(PermissionDeniedError, match="assigned to"):
            services.job_clock_on(job_id=job.pk, actor=tech)

    def test_unassigned_job(self, tech, make_job):
        with pytest.raises(ConflictError, match="not assigned"):
            services.job_clock_on(job_id=make_job().pk, actor=tech)

    def test_approved_additional_job_may_be_clocked(self, tech, make_job):
        job = make_job(technician=tech, approval=JobLine.Approval.APPROVED, is_additional=True)
        services.job_clock_on(job_id=job.pk, actor=tech)
        job.refresh_from_db()
        assert job.work_status == JobLine.WorkStatus.IN_PROGRESS


class TestSingleClock:
    def test_second_job_refused_until_clock_off(self, tech, make_job):
        first, second = make_job(technician=tech), make_job(technician=tech)
        services.job_clock_on(job_id=first.pk, actor=tech)
        with pytest.raises(ConflictError, match="already clocked on") as err:
            services.job_clock_on(job_id=second.pk, actor=tech)
        assert first.repair_order.number in err.value.message
        services.job_clock_off(job_id=first.pk, actor=tech)
        services.job_clock_on(job_id=second.pk, actor=tech)
        assert ClockEntry.objects.get(ended_at__isnull=True).job == second

    def test_repeated_clock_on_is_a_no_op(self, tech, make_job):
        job = make_job(technician=tech)
        a = services.job_clock_on(job_id=job.pk, actor=tech)
        b = services.job_clock_on(job_id=job.pk, actor=tech)
        assert a == b
        assert ClockEntry.objects.count() == 1

    def test_two_technicians_may_work_at_once(self, make_user, tech, make_job):
        other = make_user(Role.TECHNICIAN)
        services.job_clock_on(job_id=make_job(technician=tech).pk, actor=tech)
        services.job_clock_on(job_id=make_job(technician=other).pk, actor=other)
        assert ClockEntry.objects.filter(ended_at__isnull=True).count() == 2

    @pytest.mark.postgres
    @pytest.mark.django_db(transaction=True)
    def test_parallel_clock_ons_leave_one_open_clock(self, site, make_user, make_job):
        if connection.vendor != "postgresql":
            pytest.skip("needs Postgres row locks")
        tech = make_user(Role.TECHNICIAN)
        jobs = [make_job(technician=tech) for _ in range(4)]
        barrier = threading.Barrier(len(jobs))
        outcomes = []

        def clock(job_id):
            try:
                barrier.wait()
                services.job_clock_on(job_id=job_id, actor=tech)
                outcomes.append("ok")
            except ConflictError:
                outcomes.append("conflict")
            finally:
                connection.close()

        threads = [threading.Thread(target=clock, args=(j.pk,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
        assert ClockEntry.objects.filter(technician=tech, ended_at__isnull=True).count() == 1

    @pytest.mark.postgres
    @pytest.mark.django_db(transaction=True)
    def test_a_clock_off_waiting_on_a_clock_on_stops_after_it(self, site, tech, make_job):
        """The technician's tablet and a second screen: a clock-off that arrives while the
        clock-on of the same job still holds it closes the entry that clock-on opened (it
        used to read its time before waiting, earlier than the entry's start: a 400)."""
        if connection.vendor != "postgresql":
            pytest.skip("needs Postgres row locks")
        job = make_job(technician=tech)
        locked, outcome = threading.Event(), {}

        def slow_clock_on():
            try:
                with transaction.atomic():
                    # the repair order, then the job, as every change of a job locks them
                    RepairOrder.objects.select_for_update().get(pk=job.repair_order_id)
                    JobLine.objects.select_for_update().get(pk=job.pk)
                    locked.set()
                    time.sleep(0.4)  # the clock-off arrives meanwhile and waits on the job
                    services.job_clock_on(job_id=job.pk, actor=tech)
            finally:
                connection.close()

        thread = threading.Thread(target=slow_clock_on)
        thread.start()
        locked.wait(5)
        try:
            outcome["entry"] = services.job_clock_off(job_id=job.pk, actor=tech)
        finally:
            thread.join()
        entry = outcome["entry"]
        assert entry.ended_at is not None
        assert entry.ended_at >= entry.started_at


class TestActualHours:
    def test_sum_of_clock_pairs(self, tech, make_job):
        # given a job clocked 1h30, then 45 min, then 20 min
        job = make_job(technician=tech)
        t0 = timezone.now().replace(microsecond=0)
        for start, minutes in ((0, 90), (120, 45), (200, 20)):
            on = t0 + timedelta(minutes=start)
            services.job_clock_on(job_id=job.pk, actor=tech, now=on)
            services.job_clock_off(job_id=job.pk, actor=tech, now=on + timedelta(minutes=minutes))
        # then actual hours = 155 min = 2.58 h (rounded once, not per pair)
        job.refresh_from_db()
        assert job.actual_hours == Decimal("2.58")

    def test_rounding_happens_on_the_total(self, tech, make_job):
        # three 20-second pairs: per-pair rounding would give 0.03 h, the truth is 0.02 h
        job = make_job(technician=tech)
        t0 = timezone.now().replace(microsecond=0)
        for i in range(3):
            on = t0 + timedelta(minutes=i)
            services.job_clock_on(job_id=job.pk, actor=tech, now=on)
            services.job_clock_off(job_id=job.pk, actor=tech, now=on + timedelta(seconds=20))
        job.refresh_from_db()
        assert job.actual_hours == Decimal("0.02")

    def test_clock_off_before_clock_on_is_refused(self, tech, make_job):
        job = make_job(technician=tech)
        t0 = timezone.now()
        services.job_clock_on(job_id=job.pk, actor=tech, now=t0)
        with pytest.raises(ApplicationError, match="before the clock-on"):
            services.job_clock_off(job_id=job.pk, actor=tech, now=t0 - timedelta(minutes=5))
        assert ClockEntry.objects.get().ended_at is None

    def test_clock_off_twice_is_a_no_op(self, tech, make_job):
        job = make_job(technician=tech)
        t0 = timezone.now()
        services.job_clock_on(job_id=job.pk, actor=tech, now=t0)
        services.job_clock_off(job_id=job.pk, actor=tech, now=t0 + timedelta(hours=1))
        services.job_clock_off(job_id=job.pk, actor=tech, now=t0 + timedelta(hours=3))
        job.refresh_from_db()
        assert job.actual_hours == Decimal("1.00")

    def test_clock_off_without_clock_on(self, tech, make_job):
        with pytest.raises(ConflictError, match="not clocked on"):
            services.job_clock_off(job_id=make_job(technician=tech).pk, actor=tech)


# --- parts, sign-off -------------------------------------------------------------------------
class TestPartsAndSignOff:
    def test_parts_request_stops_the_clock_and_blocks_clock_on(self, tech, make_job):
        # given a technician on a job of an RO that has another job still to do
        job = make_job(technician=tech)
        JobLineFactory(repair_order=job.repair_order)
        t0 = timezone.now()
        services.job_clock_on(job_id=job.pk, actor=tech, now=t0)
        # when the part turns out missing after 30 minutes
        services.job_request_parts(
            job_id=job.pk,
            actor=tech,
            part="Water pump",
            expected_date=timezone.localdate() + timedelta(days=2),
            now=t0 + timedelta(minutes=30),
        )
        # then the clock stopped with half an hour on the job, and it cannot be clocked on
        job.refresh_from_db()
        assert job.work_status == JobLine.WorkStatus.WAITING_PARTS
        assert job.actual_hours == Decimal("0.50")
        assert not ClockEntry.objects.filter(ended_at__isnull=True).exists()
        with pytest.raises(ConflictError, match="waiting for parts"):
            services.job_clock_on(job_id=job.pk, actor=tech)
        # and once the part arrives it can
        services.job_parts_arrived(job_id=job.pk, actor=tech)
        services.job_clock_on(job_id=job.pk, actor=tech)

    def test_an_implausibly_short_clock_time_is_recorded_at_sign_off(self, tech, make_job):
        from dms.models import AuditEntry

        # given a job of 1 h standard time clocked on for a few seconds
        job = make_job(technician=tech)
        t0 = timezone.now()
        services.job_clock_on(job_id=job.pk, actor=tech, now=t0)
        # when the technician confirms the short time and signs
        services.job_sign_off(
            job_id=job.pk,
            actor=tech,
            self_check={k: True for k, _label in services.SELF_CHECK_ITEMS},
            confirm_short_time=True,
            now=t0 + timedelta(seconds=8),
        )
        # then the sign-off is recorded as implausible, and as confirmed
        entry = AuditEntry.objects.get(action="job_signed_off", object_id=job.pk)
        assert entry.data["implausible_clock_time"] is True
        assert entry.data["confirmed"] is True

    def test_sign_off_needs_the_whole_self_check(self, tech, make_job):
        job = make_job(technician=tech)
        services.job_clock_on(job_id=job.pk, actor=tech)
        with pytest.raises(ApplicationError) as err:
            services.job_sign_off(job_id=job.pk, actor=tech, self_check={"fluids": True})
        assert "work_as_ordered" in err.value.fields
        job.refresh_from_db()
        assert job.work_status == JobLine.WorkStatus.IN_PROGRESS

    def test_parts_expected_in_the_past_is_a_field_error(self, tech, make_job):
        job = make_job(technician=tech)
        with pytest.raises(ApplicationError) as err:
            services.job_request_parts(
                job_id=job.pk,
                actor=tech,
                part="Water pump",
                expected_date=timezone.localdate() - timedelta(days=3),
            )
        assert "expected_date" in err.value.fields

    def test_empty_part_is_a_field_error(self, tech, make_job):
        with pytest.raises(ApplicationError) as err:
            services.job_request_parts(
                job_id=make_job(technician=tech).pk,
                actor=tech,
                part=" ",
                expected_date=timezone.localdate(),
            )
        assert "part" in err.value.fields


# --- a clock entry keeps its RO's site ---------------------------------------------------------
def test_a_clock_entry_keeps_its_repair_orders_site(site, tech, make_job):
    """The KPIs read a site's clocked hours by the entry's own site (workshop.models.ClockEntry):
    clocking on stores the RO's site, and an entry made without one (admin, data fixes) takes
    its job's RO's site when saved."""
    SiteFactory()  # another site, which neither entry may take
    job = make_job(technician=tech)
    entry = services.job_clock_on(job_id=job.pk, actor=tech)
    assert ClockEntry.objects.get(pk=entry.pk).site_id == site.pk
    services.job_clock_off(job_id=job.pk, actor=tech)
    later = ClockEntry.objects.create(job=job, technician=tech, started_at=timezone.now())
    assert ClockEntry.objects.get(pk=later.pk).site_id == site.pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="Postgres's plan")
def test_clock_on_finds_the_technicians_open_entry_by_the_open_entry_index(site, tech, make_job):
    """Clocking on asks whether the technician is on another job. A technician's history grows
    by thousands of entries; the question is answered by the unique index of open entries, not
    by reading the history backwards by start time."""
    old_job = make_job(technician=tech)
    start = timezone.now() - timedelta(days=400)
    ClockEntry.objects.bulk_create(
        ClockEntry(
            site=site,
            job=old_job,
            technician=tech,
            started_at=start + timedelta(hours=6 * n),
            ended_at=start + timedelta(hours=6 * n + 1),
        )
        for n in range(1500)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE workshop_clockentry")
    job = make_job(technician=tech)
    with CaptureQueriesContext(connection) as ctx:
        services.job_clock_on(job_id=job.pk, actor=tech)
    asked = [
        q["sql"]
        for q in ctx.captured_queries
        if 'FROM "workshop_clockentry"' in q["sql"] and "FOR UPDATE" in q["sql"]
    ]
    assert len(asked) == 1, asked
    # no "latest first": with it, at the group dataset's statistics, Postgres preferred to walk
    # the (technician, started_at) index backwards through the whole history
    assert "ORDER BY" not in asked[0]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + asked[0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "one_open_clock_per_technician" in plan, plan
