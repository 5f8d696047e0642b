"""Workshop pages: the wall board, the technician's tablet and the QC inspector's screen.

Views read input and call a service or a selector; every page and fragment checks the role
itself. htmx requests get the fragment (a partial); a rule violation comes back as a JSON error
with its 4xx status, which the shared script (static/js/dms.js) shows in the page's #flash.
"""

from datetime import date
from decimal import Decimal, InvalidOperation

from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from dms import live
from dms.exceptions import ApplicationError
from dms.models import DispatchMode, Role
from dms.permissions import has_role, role_required
from workorders.models import JobLine

from . import board as board_fragment
from . import selectors, services, tasks

BOARD_ROLES = (Role.DISPATCHER, Role.ADVISOR, Role.TECHNICIAN, Role.QC_INSPECTOR)


def _error(exc: ApplicationError) -> JsonResponse:
    return JsonResponse({"message": exc.message, "fields": exc.fields}, status=exc.status_code)


# --- the board -------------------------------------------------------------------------------
def _board_viewer(request) -> tuple[bool, int | None]:
    """What the board shows differently per user: whether they may assign, and whose team's
    technicians they assign to (a team lead in team dispatch mode), else None."""
    site = request.site
    can_assign = services.can_dispatch(actor=request.user, site=site)
    team_of = None
    if (
        can_assign
        and site.dispatch_mode == DispatchMode.TEAM
        and not has_role(request.user, site, Role.MANAGER)
    ):
        team_of = request.user.pk
    return can_assign, team_of


def _board_context(request, viewer: tuple[bool, int | None] | None = None) -> dict:
    can_assign, team_of = viewer or _board_viewer(request)
    return board_fragment.board_context(
        request.site, can_assign, team_of, wall=request.GET.get("wall") == "1"
    )


@require_GET
@live.polled("board", apps=board_fragment.BOARD_APPS)
@role_required(*BOARD_ROLES)
def board(request):
    if request.htmx:
        # every screen of the site that sees the board alike shares one render per change,
        # done by a worker, not by the poll that finds the change (dms.live.latest_render)
        can_assign, team_of = _board_viewer(request)
        lang = getattr(request, "LANGUAGE_CODE", "")
        return live.latest_render(
            request,
            board_fragment.board_variant(can_assign, team_of),
            lambda: render(
                request, "workshop/board.html#live", _board_context(request, (can_assign, team_of))
            ),
            lambda: tasks.queue_board_render(request.site.pk, can_assign, team_of, lang),
            lambda: tasks.board_watched(request.site.pk, can_assign, team_of, lang),
        )
    can_assign, team_of = _board_viewer(request)
    context = board_fragment.page_context(
        request.site,
        can_assign,
        team_of,
        getattr(request, "LANGUAGE_CODE", ""),
        wall=request.GET.get("wall") == "1",
    )
    return render(request, "workshop/board.html", context)


@require_POST
@role_required(Role.DISPATCHER, Role.ADVISOR)
def board_assign(request):
    try:
        job_id = int(request.POST.get("job_id", ""))
    except ValueError:
        msg = _("Select a job on the board first.")
        return _error(ApplicationError(msg, fields={"job_id": [msg]}))
    try:
        services.job_assign(
            job_id=job_id,
            technician_id=request.POST.get("technician_id"),
            actor=request.user,
            bay=request.POST.get("bay", ""),
        )
    except ApplicationError as exc:
        return _error(exc)
    return render(request, "workshop/board.html#live", _board_context(request))


# --- the technician's tablet -----------------------------------------------------------------
def _finished(job: dict) -> bool:
    return job["work_status"] == "done" and job["refusal"] is not None


def _tech_context(request, **extra) -> dict:
    jobs = selectors.my_jobs(site=request.site, technician=request.user)
    return {
        "jobs": jobs,
        # finished jobs out of the way, below the ones still to do
        # (a signed job whose car came back from QC can be clocked on again: it is to do)
        "active": [j for j in jobs if not _finished(j)],
        "finished": [j for j in jobs if _finished(j)],
        "self_check_items": services.SELF_CHECK_ITEMS,
        "today": timezone.localtime(timezone.now(), request.site.tzinfo).date(),
        **extra,
    }


@require_GET
@role_required(Role.TECHNICIAN)
def technician(request):
    context = _tech_context(request)
    if request.htmx:
        return render(request, "workshop/technician.html#jobs", context)
    return render(request, "workshop/technician.html", context)


def _job_action(request, job_id: int, action, message: str = "") -> object:
    """Run the action; answer with the jobs and a message naming the job and what changed
    (`message` with %(job)s, %(plate)s and %(hours)s, the job's clocked hours after it)."""
    try:
        action()
    except ApplicationError as exc:
        return _error(exc)
    done = ""
    job = (
        JobLine.objects.filter(pk=job_id, repair_order__site=request.site)
        .select_related("repair_order__vehicle")
        .first()
    )
    if message and job is not None:
        vehicle = job.repair_order.vehicle
        done = message % {
            "job": job.description,
            "plate": vehicle.plate or vehicle.vin[-6:],
            "hours": job.actual_hours,
        }
    return render(
        request,
        "workshop/technician.html#jobs",
        _tech_context(request, done=job_id, message=done),
    )


@require_POST
@role_required(Role.TECHNICIAN)
def clock_on(request, job_id: int):
    return _job_action(
        request,
        job_id,
        lambda: services.job_clock_on(job_id=job_id, actor=request.user),
        _("Clocked on “%(job)s” (%(plate)s)."),
    )


@require_POST
@role_required(Role.TECHNICIAN)
def clock_off(request, job_id: int):
    return _job_action(
        request,
        job_id,
        lambda: services.job_clock_off(job_id=job_id, actor=request.user),
        _("Clocked off “%(job)s” (%(plate)s): %(hours)s h on the clock so far."),
    )


def _parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        msg = _("Give a date as YYYY-MM-DD.")
        raise ApplicationError(msg, fields={field: [msg]}) from None


@require_POST
@role_required(Role.TECHNICIAN)
def request_parts(request, job_id: int):
    def act():
        services.job_request_parts(
            job_id=job_id,
            actor=request.user,
            part=request.POST.get("part", ""),
            expected_date=_parse_date(request.POST.get("expected_date", ""), "expected_date"),
        )

    return _job_action(
        request, job_id, act, _("“%(job)s” (%(plate)s) stopped until the part arrives.")
    )


@require_POST
@role_required(Role.TECHNICIAN, Role.DISPATCHER, Role.PARTS_CLERK, Role.ADVISOR)
def parts_arrived(request, job_id: int):
    try:
        services.job_parts_arrived(job_id=job_id, actor=request.user)
    except ApplicationError as exc:
        return _error(exc)
    if has_role(request.user, request.site, Role.TECHNICIAN):
        return render(request, "workshop/technician.html#jobs", _tech_context(request))
    return render(request, "workshop/board.html#live", _board_context(request))


@require_POST
@role_required(Role.TECHNICIAN)
def report_finding(request, job_id: int):
    def act():
        raw = request.POST.get("standard_hours", "")
        try:
            hours = Decimal(raw)
        except InvalidOperation:
            msg = _("Give the standard hours (0–99).")
            raise ApplicationError(msg, fields={"standard_hours": [msg]}) from None
        services.job_report_finding(
            job_id=job_id,
            actor=request.user,
            description=request.POST.get("description", ""),
            standard_hours=hours,
            photos=request.FILES.getlist("photos"),
        )

    return _job_action(
        request,
        job_id,
        act,
        _("Finding on %(plate)s sent to the advisor, who will ask the customer."),
    )


@require_POST
@role_required(Role.TECHNICIAN)
def sign_off(request, job_id: int):
    return _job_action(
        request,
        job_id,
        lambda: services.job_sign_off(
            job_id=job_id,
            actor=request.user,
            self_check={key: request.POST.get(key) for key, _label in services.SELF_CHECK_ITEMS},
            report=request.POST.get("report", ""),
            confirm_short_time=bool(request.POST.get("confirm_short_time")),
        ),
        _("“%(job)s” (%(plate)s) signed off with %(hours)s h on the clock."),
    )


# --- the QC inspector ------------------------------------------------------------------------
def _qc_context(request) -> dict:
    return {"queue": selectors.qc_queue(site=request.site), "qc_items": services.QC_ITEMS}


@require_GET
@role_required(Role.QC_INSPECTOR)
def qc(request):
    context = _qc_context(request)
    if request.htmx:
        return render(request, "workshop/qc.html#queue", context)
    return render(request, "workshop/qc.html", context)


@require_POST
@role_required(Role.QC_INSPECTOR)
def qc_decide(request, repair_order_id: int):
    checklist = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    try:
        if request.POST.get("decision") == "pass":
            ro = services.qc_pass(
                repair_order_id=repair_order_id, actor=request.user, checklist=checklist
            ).repair_order
            done = _("%(n)s %(plate)s passed the quality check: on to the wash.")
        else:
            ro = services.qc_fail(
                repair_order_id=repair_order_id,
                actor=request.user,
                reason=request.POST.get("reason", ""),
                checklist=checklist,
            ).repair_order
            done = _("%(n)s %(plate)s failed the quality check: back to rework.")
    except ApplicationError as exc:
        return _error(exc)
    done %= {"n": ro.number, "plate": ro.vehicle.plate or ro.vehicle.vin}
    return render(request, "workshop/qc.html#queue", {**_qc_context(request), "done": done})
