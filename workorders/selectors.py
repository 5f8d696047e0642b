"""Reads on repair orders: lists, the detail with everything the page shows, the settlement."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.utils.translation import gettext_lazy as _

from dms.exceptions import NotFoundError
from dms.models import Role
from dms.permissions import has_role, site_ids_of

from .models import OPEN_STATUSES, Approval, JobLine, PartLine, Photo, RepairOrder, ROStatus
from .services import authorized_amount, lines_totals, money
from .transitions import allowed_actions

S = ROStatus

# who may press which action button (the services check the same roles)
ACTION_ROLES: dict[str, tuple[str, ...]] = {
    "authorize": (Role.ADVISOR,),
    "start": (Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR),
    "request-approval": (Role.ADVISOR,),
    "answer-approval": (Role.ADVISOR,),
    "wait-parts": (Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR, Role.PARTS_CLERK),
    "resume": (Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR, Role.PARTS_CLERK),
    "complete-work": (Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR),
    "qc-pass": (Role.QC_INSPECTOR,),
    "qc-fail": (Role.QC_INSPECTOR,),
    "wash-done": (Role.TECHNICIAN, Role.DISPATCHER, Role.ADVISOR),
    "final-check": (Role.ADVISOR,),
    "invoice": (Role.ADVISOR,),
    "deliver": (Role.ADVISOR,),
    "cancel": (Role.ADVISOR,),
}


# readable names of the audit entries on the RO page
AUDIT_LABELS = {
    "opened": _("Opened"),
    "message_sent": _("Message to the customer"),
    "message_delivered": _("Message delivered"),
    "message_failed": _("Message not delivered"),
    "comeback_flagged": _("Flagged as a possible comeback"),
    "comeback_confirmed": _("Comeback confirmed"),
    "comeback_cleared": _("Comeback flag cleared"),
    "intake_recorded": _("Walk-around recorded"),
    "line_added": _("Line added"),
    "line_changed": _("Line changed"),
    "line_removed": _("Line removed"),
    "estimate_changed": _("Estimate changed"),
    "authorize": _("Authorized by the customer"),
    "start": _("Work started"),
    "additional_proposed": _("Additional work proposed"),
    "request-approval": _("Customer asked about additional work"),
    "approval_link_created": _("Private link made"),
    "approval_answered": _("Customer answered"),
    "answer-approval": _("Back to work after the answer"),
    "wait-parts": _("Waiting for parts"),
    "resume": _("Work resumed"),
    "complete-work": _("Work done"),
    "qc-start": _("Quality check started"),
    "qc-pass": _("Quality check passed"),
    "qc-fail": _("Quality check failed"),
    "delay_notified": _("Customer told of a delay"),
    "wash-done": _("Washed"),
    "final-check": _("Final check done"),
    "total_approved": _("Customer agreed to a higher total"),
    "invoice": _("Settlement produced"),
    "ready_notified": _("Customer told the car is ready"),
    "deliver": _("Delivered"),
    "next_booked": _("Next visit booked"),
    "cancel": _("Cancelled"),
}


def _base(user) -> QuerySet[RepairOrder]:
    return RepairOrder.objects.filter(site_id__in=site_ids_of(user)).select_related(
        "site", "customer", "vehicle", "advisor"
    )


def repair_order_list(
    *,
    user,
    site=None,
    status: str | list[str] | None = None,
    advisor_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    q: str = "",
) -> QuerySet[RepairOrder]:
    qs = _base(user)
    if site is not None:
        qs = qs.filter(site=site)
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else status)
    if advisor_id:
        qs = qs.filter(advisor_id=advisor_id)
    if date_from:
        qs = qs.filter(opened_day__gte=date_from)
    if date_to:
        qs = qs.filter(opened_day__lte=date_to)
    qs = repair_order_search(qs, q)
    # comeback_of: the list shows the earlier RO's number (one join, not a query per row)
    return qs.select_related("comeback_of").order_by("-opened_at", "-id")


def repair_order_search(qs: QuerySet[RepairOrder], q: str) -> QuerySet[RepairOrder]:
    """Repair orders whose number, plate, VIN end, customer name or phone matches `q`."""
    q = unicodedata.normalize("NFKC", q or "").strip()
    if not q:
        return qs
    compact = "".join(q.split()).upper()
    return qs.filter(
        Q(number__icontains=q)
        | Q(vehicle__plate__icontains=compact)
        | Q(vehicle__vin__endswith=compact)
        | Q(customer__name__icontains=q)
        | Q(customer__phone__contains=q)
    )


def repair_order_get(*, user, pk) -> RepairOrder:
    """One RO of the user's sites with lines, parts, photos, intake and approvals loaded.

    The earlier RO of a comeback (rare) and the appointment are not joined: each relation more
    in the one statement costs Postgres more to plan than it costs to run (with all eight,
    4.6 ms of planning for 0.3 ms of execution on the group dataset; the RO page's dearest
    statement), and a comeback's earlier RO is one query by its key when the page shows it."""
    try:
        return (
            _base(user)
            .select_related("intake")
            .prefetch_related(
                Prefetch(
                    "lines",
                    queryset=JobLine.objects.select_related("technician").prefetch_related(
                        Prefetch("parts", queryset=PartLine.objects.order_by("id")),
                        "photos",
                    ),
                ),
                Prefetch("photos", queryset=Photo.objects.filter(job=None)),
                Prefetch(
                    "approvals",
                    queryset=Approval.objects.select_related("recorded_by").prefetch_related(
                        "lines__job"
                    ),
                ),
                "estimate_versions",
            )
            .get(pk=pk)
        )
    except (RepairOrder.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(_("No such repair order.")) from None


def repair_order_in_scope(*, user, pk) -> RepairOrder:
    """One RO of the user's sites, its own row only: for an action that needs to know the RO is
    theirs before a service changes it (the service reads and locks what it needs). The same
    404 as `repair_order_get`, without its eight reads of lines, parts, photos and approvals."""
    try:
        return _base(user).select_related(None).get(pk=pk)
    except (RepairOrder.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(_("No such repair order.")) from None


def before_signing(ro: RepairOrder) -> str | None:
    """What a draft RO still needs before the customer can sign, in the flow's order: the
    walk-around ("intake"), then the estimate ("estimate"); None when it is ready to sign.
    The service refuses the signature for the same reasons (`services.ro_authorize`)."""
    intake = getattr(ro, "intake", None)
    if intake is None or intake.recorded_at is None:
        return "intake"
    if not any(line.approval != JobLine.Approval.DECLINED for line in ro.lines.all()):
        return "estimate"
    return None


def next_actions(ro: RepairOrder, user) -> list[str]:
    """The actions the user may take on this RO now (buttons on the page). On a draft the next
    step follows the flow: walk-around, then estimate, then the customer's signature."""
    actions = [
        a for a in allowed_actions(ro.status) if has_role(user, ro.site_id, *ACTION_ROLES[a])
    ]
    if ro.status == S.DRAFT and "authorize" in actions:
        missing = before_signing(ro)
        if missing:
            actions[actions.index("authorize")] = missing
    if ro.status == S.WASHING and ro.washed_at is not None and "wash-done" in actions:
        actions.remove("wash-done")
    if ro.status == S.WAITING_APPROVAL and not any(
        line.approval == JobLine.Approval.PROPOSED for line in ro.lines.all()
    ):
        actions = [a for a in actions if a != "answer-approval"]
    return actions


@dataclass
class SettlementLine:
    job: JobLine
    labour: Decimal
    parts: list[PartLine]
    parts_amount: Decimal
    discount: Decimal
    amount: Decimal


@dataclass
class Settlement:
    lines: list[SettlementLine] = field(default_factory=list)
    declined: list[JobLine] = field(default_factory=list)
    proposed: list[JobLine] = field(default_factory=list)
    labour_total: Decimal = Decimal("0")
    parts_total: Decimal = Decimal("0")
    discount_total: Decimal = Decimal("0")
    net_total: Decimal = Decimal("0")
    tax_rate: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    grand_total: Decimal = Decimal("0")
    not_to_exceed: Decimal | None = None
    authorized_amount: Decimal | None = None

    @property
    def over_limit(self) -> bool:
        return self.authorized_amount is not None and self.grand_total > self.authorized_amount

    @property
    def tax_percent(self) -> Decimal:
        return (self.tax_rate * 100).normalize()


def settlement(ro: RepairOrder) -> Settlement:
    """The settlement (结算单) from the actual lines, explained line by line. Uses the lines
    and parts already prefetched by `repair_order_get`."""
    lines = list(ro.lines.all())
    billable = [line for line in lines if line.is_workable]
    totals = lines_totals(billable, tax_rate=ro.site.tax_rate)
    out = Settlement(
        declined=[line for line in lines if line.approval == JobLine.Approval.DECLINED],
        proposed=[line for line in lines if line.approval == JobLine.Approval.PROPOSED],
        tax_rate=ro.site.tax_rate,
        not_to_exceed=ro.not_to_exceed,
        authorized_amount=authorized_amount(ro),
        **totals,
    )
    out.net_total = money(out.labour_total + out.parts_total - out.discount_total)
    for line in billable:
        parts = list(line.parts.all())
        out.lines.append(
            SettlementLine(
                job=line,
                labour=line.labour_amount,
                parts=parts,
                parts_amount=line.parts_amount,
                discount=line.discount,
                amount=line.amount,
            )
        )
    return out


def timeline(ro: RepairOrder) -> list[dict]:
    """The status steps of the happy path with when each was reached (for the page header)."""
    from dms.audit import history

    reached: dict[str, object] = {}
    for entry in history(ro):
        if entry.to_state and entry.to_state not in reached:
            reached[entry.to_state] = entry.at
    path = [
        S.DRAFT,
        S.AUTHORIZED,
        S.IN_PROGRESS,
        S.WORK_DONE,
        S.QC,
        S.WASHING,
        S.READY,
        S.INVOICED,
        S.DELIVERED,
    ]
    if ro.status in path:
        current = path.index(ro.status)
    elif ro.status in (S.WAITING_APPROVAL, S.WAITING_PARTS) or ro.status == S.REWORK:
        current = path.index(S.IN_PROGRESS)
    else:
        current = -1
    return [
        {
            "state": state,
            "label": S(state).label,
            "at": reached.get(state),
            "done": i < current or (ro.status == S.DELIVERED and i == current),
            "current": i == current and ro.status != S.DELIVERED,
        }
        for i, state in enumerate(path)
    ]


def approvals_pending(*, site) -> QuerySet[RepairOrder]:
    """ROs with proposed work waiting for the customer's answer."""
    return (
        # the open statuses by name (not "not cancelled or delivered"): the (site, status)
        # index then finds a site's ~100 open ROs instead of reading its 70,000 to drop them
        RepairOrder.objects.filter(
            site=site, status__in=OPEN_STATUSES, lines__approval=JobLine.Approval.PROPOSED
        )
        .select_related("customer", "vehicle", "advisor")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=JobLine.objects.filter(approval=JobLine.Approval.PROPOSED)
                .prefetch_related("parts")
                .order_by("position"),
                to_attr="proposed_lines",
            ),
            "approval_links",
        )
        .distinct()
        .order_by("updated_at")
    )


def ready_for_delivery(*, site) -> QuerySet[RepairOrder]:
    return (
        RepairOrder.objects.filter(site=site, status__in=[S.WASHING, S.READY, S.INVOICED])
        .select_related("customer", "vehicle", "advisor")
        .order_by("promised_at", "id")
    )


def declined_lines(*, site, since: date | None = None) -> QuerySet[JobLine]:
    """Declined additional work with its reason and price, for the next booking, check-in and
    proactive calls."""
    qs = JobLine.objects.filter(
        repair_order__site=site, approval=JobLine.Approval.DECLINED
    ).select_related("repair_order", "repair_order__vehicle", "repair_order__customer")
    if since:
        qs = qs.filter(repair_order__opened_day__gte=since)
    return qs.order_by("-repair_order__opened_at")


def declined_lines_for_vehicle(*, vehicle) -> QuerySet[JobLine]:
    return (
        JobLine.objects.filter(repair_order__vehicle=vehicle, approval=JobLine.Approval.DECLINED)
        .select_related("repair_order")
        .prefetch_related("parts")
        .order_by("-repair_order__opened_at")
    )


def signed_versions(ro: RepairOrder) -> dict:
    """What the customer signed: the authorisation with its frozen estimate version, and each
    answer on additional work with the version it approved (for the printed RO)."""
    from .models import EstimateVersion

    approvals = list(
        ro.approvals.filter(kind__in=[Approval.Kind.AUTHORIZATION, Approval.Kind.ADDITIONAL])
        .select_related("recorded_by")
        .prefetch_related("lines__job")
        .order_by("answered_at", "id")
    )
    versions = {
        v.version: v
        for v in EstimateVersion.objects.filter(
            repair_order=ro, version__in={a.estimate_version for a in approvals}
        )
    }
    authorization = next((a for a in approvals if a.kind == Approval.Kind.AUTHORIZATION), None)
    return {
        "authorization": authorization,
        "signed_version": versions.get(authorization.estimate_version) if authorization else None,
        "additional_answers": [
            {"approval": a, "version": versions.get(a.estimate_version), "lines": a.lines.all()}
            for a in approvals
            if a.kind == Approval.Kind.ADDITIONAL
        ],
    }


# --- what the customer archive shows of the repair orders (registered in apps.py) -------------
def open_repair_orders_by_customer(customer_ids: list[int]) -> dict[int, list[RepairOrder]]:
    """The customers' open repair orders, newest first, in one query (the archive's lookup)."""
    open_ros: dict[int, list[RepairOrder]] = {}
    for ro in (
        RepairOrder.objects.filter(customer_id__in=customer_ids, status__in=OPEN_STATUSES)
        .select_related("vehicle")
        .only(
            "id",
            "number",
            "status",
            "customer_id",
            "opened_at",
            "promised_at",
            "vehicle__plate",
            "vehicle__vin",
        )
        .order_by("-opened_at")
    ):
        open_ros.setdefault(ro.customer_id, []).append(ro)
    return open_ros


def visits_and_spend(*, site, today: date, customer_ids: list[int] | None) -> dict[int, dict]:
    """{customer_id: {visits, spend (12 months), last (delivery, ever)}} from delivered ROs
    (the archive's segmentation)."""
    since = today - timedelta(days=365)
    qs = RepairOrder.objects.filter(site=site, status="delivered", delivered_at__isnull=False)
    if customer_ids is not None:
        qs = qs.filter(customer_id__in=customer_ids)
    rows = qs.values("customer_id").annotate(
        visits=Count("id", filter=Q(delivered_day__gt=since, delivered_day__lte=today)),
        spend=Sum("grand_total", filter=Q(delivered_day__gt=since, delivered_day__lte=today)),
        last=Max("delivered_at"),
    )
    return {
        r["customer_id"]: {
            "visits": r["visits"] or 0,
            "spend": r["spend"] or Decimal("0"),
            "last": r["last"],
        }
        for r in rows
    }


def with_service_history(vehicles: QuerySet) -> QuerySet:
    """The archive's vehicles annotated with the repair orders' part of their service history
    (the reader `customers.history` calls `service_history`): the first and last odometer of the
    repair orders not cancelled, the last delivered service and whether a first service was
    seen — correlated subqueries, one query for the whole list."""
    with_km = RepairOrder.objects.filter(vehicle=OuterRef("pk"), odometer_km__isnull=False).exclude(
        status=ROStatus.CANCELLED
    )
    first = with_km.order_by("opened_day", "id")
    last = with_km.order_by("-opened_day", "-id")
    delivered = RepairOrder.objects.filter(
        vehicle=OuterRef("pk"), status=ROStatus.DELIVERED
    ).order_by("-delivered_day", "-id")
    first_service = RepairOrder.objects.filter(vehicle=OuterRef("pk"), is_first_service=True)
    return vehicles.annotate(
        first_ro_day=Subquery(first.values("opened_day")[:1]),
        first_ro_km=Subquery(first.values("odometer_km")[:1]),
        last_ro_day=Subquery(last.values("opened_day")[:1]),
        last_ro_km=Subquery(last.values("odometer_km")[:1]),
        last_service_day=Subquery(delivered.values("delivered_day")[:1]),
        last_service_km=Subquery(delivered.values("odometer_km")[:1]),
        first_service_seen=Exists(first_service.exclude(status=ROStatus.CANCELLED)),
    )
