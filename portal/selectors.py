"""Reads of the customer's pages: the free times of the booking page (the front desk's
availability rules), the status of the car as a customer may see it, and its cheap version tag
for polling. Nothing internal: no notes, no technicians, no other cars, no staff prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from appointments import selectors as appointment_selectors
from appointments.models import ServiceOffering
from dms.audit import history
from dms.models import Site
from dms.names import person_name
from workorders.documents import documents_of
from workorders.models import JobLine, Photo, RepairOrder, ROStatus

S = ROStatus

# the steps the customer sees, and which RO states fall in each
STEPS: list[tuple[str, object]] = [
    ("checked_in", pgettext_lazy("customer progress", "Checked in")),
    ("diagnosed", _("Diagnosed")),
    ("approval", _("Waiting for your approval")),
    ("repair", _("In repair")),
    ("qc", _("Quality check")),
    ("washing", pgettext_lazy("customer progress", "Washing")),
    ("ready", pgettext_lazy("customer progress", "Ready")),
    ("delivered", _("Delivered")),
]
STEP_OF = {
    S.DRAFT: "checked_in",
    S.AUTHORIZED: "diagnosed",
    S.WAITING_APPROVAL: "approval",
    S.IN_PROGRESS: "repair",
    S.WAITING_PARTS: "repair",
    S.WORK_DONE: "repair",
    S.REWORK: "repair",
    S.QC: "qc",
    S.WASHING: "washing",
    S.READY: "ready",
    S.INVOICED: "ready",
    S.DELIVERED: "delivered",
}
SETTLEMENT_STATES = (S.READY, S.INVOICED, S.DELIVERED)
# proposed extra work is answered on the page while the RO may still change (after it was
# authorised): paused for the answer, or still working when the advisor sent the link by hand
ANSWERABLE_STATES = (S.AUTHORIZED, S.IN_PROGRESS, S.WAITING_APPROVAL, S.WAITING_PARTS)


def site_for_booking(code: str) -> Site | None:
    return Site.objects.filter(code=code).first()


def service_menu(site: Site) -> list[ServiceOffering]:
    return list(ServiceOffering.objects.filter(site=site, active=True).order_by("position", "name"))


def hours_of(site: Site, codes: list[str]) -> Decimal:
    hours = sum(
        (
            o.standard_hours
            for o in ServiceOffering.objects.filter(site=site, active=True, code__in=codes)
        ),
        Decimal("0.0"),
    )
    return hours or Decimal("1.0")


def free_times(*, site: Site, day: date, codes: list[str], now: datetime | None = None) -> dict:
    """The free reception times of `day` for the chosen services, by the front desk's rules
    (cadence, buffers never offered, workshop capacity, load-levelling suggestions), one per
    time: the customer picks a time, the booking picks the least-loaded advisor."""
    answer = appointment_selectors.availability(
        site=site, day=day, hours=hours_of(site, codes), now=now
    )

    def times(slots: list[dict]) -> list[datetime]:
        return sorted({s["start"] for s in slots if not s["is_buffer"]})

    return {
        "day": day,
        "open": answer["open"],
        "fits": answer["fits"],
        "full": answer["full"] or not answer["fits"],
        "closed_reason": answer["closed_reason"],
        "times": times(answer["slots"]),
        "suggestions": [
            {"date": s["date"], "times": times(s["slots"]), "load_percent": s["load_percent"]}
            for s in answer["suggestions"]
        ],
    }


@dataclass
class Step:
    key: str
    label: object
    done: bool
    current: bool


# what the status page's version tag is made of, as read through the customer's link
STATUS_TAG_FIELDS = (
    "repair_order_id",
    "repair_order__updated_at",
    "repair_order__status",
    "repair_order__promised_at",
)


def _tag(repair_order_id, updated, status, promised, language: str) -> str:
    return f'W/"{repair_order_id}-{updated.timestamp():.6f}-{status}-{promised}-{language}"'


def status_tag(repair_order_id: int, language: str) -> str | None:
    """A version tag of what the status page shows (one small query), for ETag/304."""
    row = (
        RepairOrder.objects.filter(pk=repair_order_id)
        .values_list("updated_at", "status", "promised_at")
        .first()
    )
    if row is None:
        return None
    return _tag(repair_order_id, *row, language)


def status_tag_of(values: dict, language: str) -> str | None:
    """The same tag from the link's values of STATUS_TAG_FIELDS (read with the link)."""
    if values.get("repair_order_id") is None:
        return None
    return _tag(*(values[f] for f in STATUS_TAG_FIELDS), language)


def status_of(repair_order_id: int) -> dict:
    """Everything the customer's status page shows, in a fixed number of queries."""
    ro = (
        RepairOrder.objects.select_related("site", "vehicle", "advisor", "customer")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=JobLine.objects.order_by("position", "id").prefetch_related(
                    "parts",
                    Prefetch("photos", queryset=Photo.objects.order_by("uploaded_at", "id")),
                ),
            )
        )
        .get(pk=repair_order_id)
    )
    current = STEP_OF.get(ro.status)
    keys = [k for k, _label in STEPS]
    index = keys.index(current) if current else -1
    steps = [
        Step(
            key=k,
            label=label,
            done=i < index or (current == "delivered" and i == index),
            current=i == index and current != "delivered",
        )
        for i, (k, label) in enumerate(STEPS)
    ]
    lines = list(ro.lines.all())
    proposed = [line for line in lines if line.approval == JobLine.Approval.PROPOSED]
    delayed = bool(
        ro.promised_at and ro.first_promised_at and ro.promised_at > ro.first_promised_at
    )
    delay_reason = ""
    if delayed:
        told = [e for e in history(ro) if e.action == "delay_notified"]
        delay_reason = told[-1].note if told else ""
    out = {
        "ro": ro,
        "steps": steps,
        "cancelled": ro.status == S.CANCELLED,
        "advisor": person_name(ro.advisor),
        "promised_at": ro.promised_at,
        "delayed": delayed,
        "delay_reason": delay_reason,
        "waiting_part": ro.waiting_part if ro.status == S.WAITING_PARTS else "",
        "parts_expected": ro.parts_expected_date if ro.status == S.WAITING_PARTS else None,
        "proposed": proposed if ro.status in ANSWERABLE_STATES else [],
        "work": [line for line in lines if line.is_workable],
        "settlement": None,
        "documents": documents_of(ro),
    }
    if ro.status in SETTLEMENT_STATES:
        from workorders.selectors import settlement

        out["settlement"] = settlement(ro)
    return out


def photo_of(*, repair_order_id: int, photo_id) -> Photo | None:
    """A photo of a finding on the RO's lines (intake photos are not shown to the link)."""
    return (
        Photo.objects.filter(pk=photo_id, repair_order_id=repair_order_id, job__isnull=False)
        .only("image")
        .first()
    )


def booking_of(appointment_id: int):
    from appointments.models import Appointment

    return Appointment.objects.select_related("site", "vehicle", "advisor").get(pk=appointment_id)


def local(site: Site, dt: datetime | None) -> datetime | None:
    return timezone.localtime(dt, site.tzinfo) if dt else None
