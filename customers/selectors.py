"""Reads from the customer and vehicle archive: lookup, history, segments, due lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Reverse, Right
from django.utils import timezone

from dms.exceptions import ApplicationError
from dms.lookups import ContainsAnyCase
from dms.models import Site

from . import history, service_due, validators
from .models import Customer, Vehicle, VehicleOwnership

# --- lookup ----------------------------------------------------------------------------------
_PHONEISH = re.compile(r"^[+()\d\s\-.]{7,}$")
_VIN_TAIL = re.compile(r"^[A-HJ-NPR-Z0-9]{6}$")
_PHONE_TAIL = 4


@dataclass
class LookupHit:
    customer: Customer
    vehicles: list[Vehicle]
    matched_on: list[str] = field(default_factory=list)
    matched_vehicle_ids: set[int] = field(default_factory=set)
    last_visit_at: datetime | None = None
    open_repair_orders: list[Any] = field(default_factory=list)


def _customer_ids_for(
    site_ids: list[int], q: str, limit: int
) -> tuple[dict[int, list[str]], dict[int, set[int]]]:
    """Customer ids matched by each key, each found with one index-backed query."""
    matched: dict[int, list[str]] = {}
    vehicle_hits: dict[int, set[int]] = {}
    compact = re.sub(r"[\s.·\-_]+", "", q).upper()
    live = Customer.objects.filter(site_id__in=site_ids, merged_into__isnull=True)
    vehicles = Vehicle.objects.filter(site_id__in=site_ids)

    def add(pairs, key):
        for customer_id, vehicle_id in pairs:
            matched.setdefault(customer_id, [])
            if key not in matched[customer_id]:
                matched[customer_id].append(key)
            if vehicle_id:
                vehicle_hits.setdefault(customer_id, set()).add(vehicle_id)

    # phone, any format (a number the parser rejects is still tried as typed, for old data)
    digits = "".join(c for c in q if c.isdigit())
    if _PHONEISH.match(q) and len(digits) >= 7:
        try:
            phones = {validators.normalize_phone(q)}
        except ApplicationError:
            phones = {f"+86{digits}"} if len(digits) == 11 and digits[0] == "1" else set()
            if q.lstrip().startswith("+"):
                phones.add(f"+{digits}")
        if phones:
            ids = live.filter(Q(phone__in=phones) | Q(phone2__in=phones)).values_list(
                "id", flat=True
            )[:limit]
            add(((i, None) for i in ids), "phone")
    # the last 4 digits of a phone (what a customer says at the desk: "尾号 5678"), compared as
    # the numbers' last 4 characters, which Postgres finds in an expression index per number
    # (customers 0010; "ends with" read every customer of the site: ~14 ms for 10,000)
    if q.isdigit() and len(q) == _PHONE_TAIL:
        ids = (
            live.annotate(
                phone_tail=Right("phone", _PHONE_TAIL), phone2_tail=Right("phone2", _PHONE_TAIL)
            )
            .filter(Q(phone_tail=q) | Q(phone2_tail=q))
            .order_by("name", "id")
            .values_list("id", flat=True)[:limit]
        )
        add(((i, None) for i in ids), "phone_tail")
    # full VIN, or its last 6
    if len(compact) == 17:
        pairs = vehicles.filter(vin=compact).values_list("owner_id", "id")[:limit]
        add(pairs, "vin")
    elif _VIN_TAIL.match(compact) and any(c.isdigit() for c in compact):
        pairs = vehicles.filter(vin_last6=compact).values_list("owner_id", "id")[:limit]
        add(pairs, "vin_last6")
    # plate, full or without the province character / partial
    if 3 <= len(compact) <= 8 and any(c.isdigit() for c in compact):
        try:
            plate = validators.normalize_plate(compact)
        except ApplicationError:
            plate = None
        if plate:
            pairs = vehicles.filter(plate=plate).values_list("owner_id", "id")[:limit]
        elif compact[0] in validators.PROVINCES:
            pairs = vehicles.filter(plate__startswith=compact).values_list("owner_id", "id")[:limit]
        else:
            pairs = vehicles.filter(plate__contains=compact).values_list("owner_id", "id")[:limit]
        add(pairs, "plate")
    # part of a name (names have no digits). One character is a surname: a prefix. Two or three
    # characters: the start or the end of the name (the full name, surname + first character,
    # or the given name), each backed by a btree pattern index. From four on, anywhere in the
    # name (trigram GIN). Chinese has no case, so LIKE (not ILIKE) unless there are Latin letters.
    name = " ".join(q.split())
    if name and not digits:
        if name.isascii():
            # from three letters on, anywhere in any case: ILIKE, which the trigram index answers
            cond = (
                Q(ContainsAnyCase(F("name"), name)) if len(name) >= 3 else Q(name__istartswith=name)
            )
        elif len(name) == 1:
            cond = Q(name__startswith=name)
        elif len(name) <= 3:  # a full name, surname + given, or the given name
            cond = Q(name__startswith=name) | Q(name_reversed__startswith=name[::-1])
        else:  # longer: company names, compound surnames — anywhere
            cond = Q(name__contains=name)
        ids = (
            live.annotate(name_reversed=Reverse("name"))
            .filter(cond)
            .order_by("name", "id")
            .values_list("id", flat=True)[:limit]
        )
        add(((i, None) for i in ids), "name")
    return matched, vehicle_hits


def lookup(*, site_ids: list[int], q: str, limit: int = 20) -> list[LookupHit]:
    """One box: plate (any case/spaces), full VIN or its last 6, phone (any format) or its last 4
    digits, or part of a name; full-width characters from a Chinese keyboard count as the
    ordinary ones. Results carry the customer, their vehicles, the last visit and open work.

    A fixed number of queries whatever the data size; each key uses an index (trigram GIN for
    partial plates and names on Postgres)."""
    q = validators.nfkc(q).strip()
    if not q or not site_ids:
        return []
    limit = max(1, min(int(limit), 100))
    matched, vehicle_hits = _customer_ids_for(list(site_ids), q, limit)
    if not matched:
        return []
    by_id = _live_customers_with_vehicles(list(matched))
    order = {"vin": 0, "plate": 1, "vin_last6": 2, "phone": 3, "phone_tail": 4, "name": 5}
    ranked = sorted(
        (cid for cid in matched if cid in by_id),
        key=lambda cid: (min(order[k] for k in matched[cid]), by_id[cid].name, cid),
    )[:limit]
    hits = [
        LookupHit(
            customer=by_id[cid],
            vehicles=list(by_id[cid].vehicles.all()),
            matched_on=matched[cid],
            matched_vehicle_ids=vehicle_hits.get(cid, set()),
        )
        for cid in ranked
    ]
    _attach_visits(hits)
    return hits


def _live_customers_with_vehicles(ids: list[int]) -> dict[int, Customer]:
    """{id: customer} of the live customers among `ids` (merged customers' vehicles moved to
    the kept one; plate and VIN hits are on live owners), each with its vehicles by plate as
    if prefetched. The vehicles come with their owner in one query; only customers without a
    vehicle are read on their own. A lookup asks this on every key typed at the desk: one round
    trip instead of two (customers, then their vehicles) is one wait for a core less under load
    (docs/benchmarks.md, 2026-12-07 16:20)."""
    by_id: dict[int, Customer] = {}
    vehicles_of: dict[int, list[Vehicle]] = {}
    for vehicle in (
        Vehicle.objects.filter(owner_id__in=ids, owner__merged_into__isnull=True)
        .select_related("owner")
        .order_by("plate", "id")
    ):
        owner = by_id.setdefault(vehicle.owner_id, vehicle.owner)
        Vehicle.owner.field.set_cached_value(vehicle, owner)
        vehicles_of.setdefault(owner.pk, []).append(vehicle)
    without = [pk for pk in ids if pk not in by_id]
    if without:
        by_id.update(
            (c.pk, c) for c in Customer.objects.filter(pk__in=without, merged_into__isnull=True)
        )
    for customer in by_id.values():
        # as prefetch_related leaves it: `customer.vehicles.all()` answers without a query
        vehicles = customer.vehicles.all()
        vehicles._result_cache = vehicles_of.get(customer.pk, [])
        vehicles._prefetch_done = True
        customer._prefetched_objects_cache = {"vehicles": vehicles}
    return by_id


def _attach_visits(hits: list[LookupHit]) -> None:
    """Open work in one query (registered by workorders: history.open_repair_orders); the last
    visit from the stored delivery/visit dates (kept up to date at delivery), so no aggregate
    over the repair orders is needed."""
    open_ros = history.open_repair_orders(h.customer.pk for h in hits)
    for hit in hits:
        candidates = [hit.customer.last_delivery_at] + [v.last_visit_at for v in hit.vehicles]
        candidates += [ro.opened_at for ro in open_ros.get(hit.customer.pk, [])]
        candidates = [d for d in candidates if d]
        hit.last_visit_at = max(candidates) if candidates else None
        hit.open_repair_orders = open_ros.get(hit.customer.pk, [])


# --- duplicates ------------------------------------------------------------------------------
def possible_duplicates(
    *, site: Site, name: str = "", phone: str = "", plate: str = "", exclude_id: int | None = None
) -> list[Customer]:
    """Customers that may be the same person: same phone, or same name and a vehicle with the
    same plate."""
    cond = Q()
    try:
        phone = validators.normalize_phone(phone) if phone else ""
    except ApplicationError:
        phone = ""
    if phone:
        cond |= Q(phone=phone) | Q(phone2=phone)
    try:
        plate = validators.normalize_plate(plate) if plate else ""
    except ApplicationError:
        plate = ""
    name = " ".join((name or "").split())
    if name and plate:
        cond |= Q(name=name, vehicles__plate=plate)
    if not cond:
        return []
    qs = Customer.objects.filter(cond, site=site, merged_into__isnull=True)
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    return list(qs.distinct().order_by("name", "id")[:10])


# --- history ---------------------------------------------------------------------------------
@dataclass
class Visit:
    repair_order: Any
    date: date
    mileage_km: int | None
    advisor: Any
    lines: list[Any]
    amount: Decimal
    status: str
    followup: Any | None
    complaints: list[Any]


def vehicle_history(*, vehicle: Vehicle) -> list[Visit]:
    """Every visit of a vehicle, newest first: date, mileage, advisor, lines (with parts),
    amount, the follow-up call's result and complaints (read by followups: history.visits). A
    fixed number of queries."""
    return history.visits(vehicle)


def vehicle_ownerships(*, vehicle: Vehicle) -> list[VehicleOwnership]:
    return list(vehicle.ownerships.select_related("customer").order_by("-since", "-id"))


# --- segmentation ----------------------------------------------------------------------------
def retention_bucket(*, site: Site, last_delivery_at: datetime | date | None, today: date) -> str:
    """The 3-6-9 bucket: months since the last delivery, thresholds from the site. Exactly
    3 months (same day of month) is already "at risk"; exactly 6 "nearly lost"; exactly 9 "lost"."""
    if last_delivery_at is None:
        return Customer.Retention.NEW
    if isinstance(last_delivery_at, datetime):
        last = timezone.localtime(last_delivery_at, site.tzinfo).date()
    else:
        last = last_delivery_at
    if today >= service_due.add_months(last, site.retention_lost_months):
        return Customer.Retention.LOST
    if today >= service_due.add_months(last, site.retention_nearly_lost_months):
        return Customer.Retention.NEARLY_LOST
    if today >= service_due.add_months(last, site.retention_at_risk_months):
        return Customer.Retention.AT_RISK
    return Customer.Retention.ACTIVE


def abc_class_for(
    *, site: Site, visits: int, spend: Decimal, spend_threshold: Decimal | None
) -> str:
    """A: at least the site's visit count in 12 months (default 3) or in the top spend share
    (default 20%); B: 1 visit or more; C: none."""
    if visits >= site.abc_a_min_visits or (
        spend_threshold is not None and spend > 0 and spend >= spend_threshold
    ):
        return Customer.AbcClass.A
    if visits >= 1:
        return Customer.AbcClass.B
    return Customer.AbcClass.C


def spend_by_customer(
    *, site: Site, today: date, customer_ids: list[int] | None = None
) -> dict[int, dict[str, Any]]:
    """{customer_id: {visits, spend (12 months), last (delivery, ever)}} from delivered ROs
    (read by workorders: history.visits_and_spend)."""
    return history.visits_and_spend(site=site, today=today, customer_ids=customer_ids)


def segment_counts(*, site: Site) -> dict[str, dict[str, int]]:
    """How many live customers per retention bucket and per ABC class."""
    live = Customer.objects.filter(site=site, merged_into__isnull=True)
    retention = dict(
        live.values_list("retention").annotate(n=Count("id")).values_list("retention", "n")
    )
    abc = dict(live.values_list("abc_class").annotate(n=Count("id")).values_list("abc_class", "n"))
    return {
        "retention": {k: retention.get(k, 0) for k in Customer.Retention.values},
        "abc": {k: abc.get(k, 0) for k in Customer.AbcClass.values},
    }


# --- due lists ------------------------------------------------------------------------------
def due_this_month(*, site_ids: Iterable[int], month: date) -> QuerySet[Vehicle]:
    """Vehicles whose next service falls due in the month of `month` — by date or by the
    mileage projected from their history, first services included (`customers.service_due`,
    stored in `service_due_on`). The one "due this month": the archive's vehicle list, proactive
    care's due list and the KPI tile all read it. Merged-away owners are left out."""
    site_ids = list(site_ids)
    # the few merged-away owners by their index, not a join with every customer of the sites: a
    # group's month (36,780 vehicles of 20 sites) counts in 22 ms instead of 77
    merged = Customer.objects.filter(site_id__in=site_ids, merged_into__isnull=False).values("pk")
    return (
        Vehicle.objects.filter(
            site_id__in=site_ids, service_due_on__range=service_due.month_bounds(month)
        )
        .exclude(owner_id__in=merged)
        .select_related("owner")
        .order_by("service_due_on", "plate", "id")
    )


def customer_list(
    *, site_ids: list[int], q: str = "", retention: str = "", abc: str = ""
) -> QuerySet[Customer]:
    qs = Customer.objects.filter(site_id__in=site_ids, merged_into__isnull=True)
    if retention:
        qs = qs.filter(retention=retention)
    if abc:
        qs = qs.filter(abc_class=abc)
    if q:
        ids = [h.customer.pk for h in lookup(site_ids=site_ids, q=q, limit=100)]
        qs = qs.filter(pk__in=ids)
    return qs.order_by("name", "id")
