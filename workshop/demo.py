"""Workshop demo data: bays, the technicians' teams, and jobs on the demo repair orders
dispatched and clocked through the workshop services. Running it twice changes nothing."""

from datetime import timedelta

from django.utils import timezone

from dms.models import Role, StaffRole
from workorders.models import JobLine, RepairOrder, ROStatus

from . import services
from .models import Bay, ClockEntry
from .transitions import WORKABLE_APPROVALS

BAYS = [("B1", True), ("B2", True), ("B3", True), ("B4", True), ("W1", False), ("Q1", False)]
# technician → the advisor leading their team (used when the site switches to team mode)
TEAMS = {"tech": "advisor", "tech2": "advisor2"}


def load(*, site, users) -> None:
    for code, has_lift in BAYS:
        Bay.objects.get_or_create(site=site, code=code, defaults={"has_lift": has_lift})
    for tech, lead in TEAMS.items():
        if tech in users and lead in users:
            StaffRole.objects.filter(
                user=users[tech], site=site, role=Role.TECHNICIAN, team_lead__isnull=True
            ).update(team_lead=users[lead])
    dispatcher = users.get("dispatcher")
    techs = [users[name] for name in ("tech", "tech2") if name in users]
    if dispatcher is None or not techs:
        return
    _dispatch(site, dispatcher, techs)
    _clock_on_one_job(site, techs)


def _dispatch(site, dispatcher, techs) -> None:
    """Give every unassigned agreed job on cars in the workshop to a technician and a bay,
    except on the newest authorized RO, which stays in "to dispatch" for the demo."""
    open_ros = RepairOrder.objects.filter(
        site=site,
        status__in=[ROStatus.IN_PROGRESS, ROStatus.WAITING_PARTS, ROStatus.WAITING_APPROVAL],
    )
    authorized = list(
        RepairOrder.objects.filter(site=site, status=ROStatus.AUTHORIZED).order_by("opened_at")
    )
    ro_ids = list(open_ros.values_list("pk", flat=True)) + [ro.pk for ro in authorized[:-1]]
    jobs = (
        JobLine.objects.filter(
            repair_order_id__in=ro_ids, technician__isnull=True, approval__in=WORKABLE_APPROVALS
        )
        .exclude(work_status=JobLine.WorkStatus.DONE)
        .order_by("repair_order_id", "position", "id")
    )
    bays = [code for code, has_lift in BAYS if has_lift]
    for i, job in enumerate(jobs):
        services.job_assign(
            job_id=job.pk,
            technician_id=techs[i % len(techs)].pk,
            actor=dispatcher,
            bay=bays[job.repair_order_id % len(bays)],
        )


def _clock_on_one_job(site, techs) -> None:
    """The first technician is on a job (clocked on 40 minutes ago) if they are on none."""
    tech = techs[0]
    if ClockEntry.objects.filter(technician=tech, ended_at__isnull=True).exists():
        return
    job = (
        JobLine.objects.filter(
            repair_order__site=site,
            repair_order__status=ROStatus.IN_PROGRESS,
            technician=tech,
            approval__in=WORKABLE_APPROVALS,
        )
        .exclude(work_status__in=[JobLine.WorkStatus.DONE, JobLine.WorkStatus.WAITING_PARTS])
        .order_by("repair_order__promised_at", "id")
        .first()
    )
    if job is not None:
        services.job_clock_on(job_id=job.pk, actor=tech, now=timezone.now() - timedelta(minutes=40))
