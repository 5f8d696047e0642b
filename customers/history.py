"""What the apps above the archive add to it: reads they register in their AppConfig.ready().

The archive (customers) stands below the repair orders and the call tasks and never imports
them. Its lookup, vehicle history, segmentation and mileage still show what happened above —
open repair orders, visits with their follow-up call and complaints, visits and spend, the
service history of each vehicle — through these readers, registered by workorders and followups.
Without a reader the archive shows nothing of that kind (empty lists, no spend). The same apps
register the choices of the statuses the archive's API shows of their records
(`register_choices`), so the archive never reads another app's model, not even by name."""

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from django.db.models import BooleanField, DateField, IntegerField, QuerySet, Value

_readers: dict[str, Callable[..., Any]] = {}
_choices: dict[str, list[tuple[str, str]]] = {}


def register(name: str, reader: Callable[..., Any]) -> None:
    """Register the reader called `name` (one per name: registering again replaces it):

    - "open_repair_orders": (customer_ids) -> {customer_id: [repair orders, newest first]}
    - "visits": (vehicle) -> [customers.selectors.Visit, newest first]
    - "visits_and_spend": (site, today, customer_ids | None) ->
      {customer_id: {"visits", "spend", "last"}}
    - "service_history": (vehicles queryset) -> the same queryset annotated with the repair
      orders' part of each vehicle's service history: `first_ro_day`, `first_ro_km`,
      `last_ro_day`, `last_ro_km` (odometers of repair orders not cancelled), `last_service_day`,
      `last_service_km` (the last delivered one) and `first_service_seen` (a first service not
      cancelled) — what `customers.service_due` projects the next service from
    """
    _readers[name] = reader


def open_repair_orders(customer_ids: Iterable[int]) -> dict[int, list]:
    reader = _readers.get("open_repair_orders")
    return reader(list(customer_ids)) if reader else {}


def visits(vehicle) -> list:
    reader = _readers.get("visits")
    return reader(vehicle) if reader else []


def visits_and_spend(*, site, today: date, customer_ids: list[int] | None) -> dict[int, dict]:
    reader = _readers.get("visits_and_spend")
    return reader(site=site, today=today, customer_ids=customer_ids) if reader else {}


def with_service_history(vehicles: QuerySet) -> QuerySet:
    reader = _readers.get("service_history")
    if reader:
        return reader(vehicles)
    no_day, no_km = Value(None, output_field=DateField()), Value(None, output_field=IntegerField())
    return vehicles.annotate(
        first_ro_day=no_day,
        first_ro_km=no_km,
        last_ro_day=no_day,
        last_ro_km=no_km,
        last_service_day=no_day,
        last_service_km=no_km,
        first_service_seen=Value(False, output_field=BooleanField()),
    )


def register_choices(name: str, choices: Iterable[tuple[str, Any]]) -> None:
    """Register the choices called `name` (registering again replaces them), each by the app
    that owns the field:

    - "repair_order_status", "job_line_approval": workorders
    - "call_task_status": outreach
    - "complaint_status": followups
    """
    _choices[name] = list(choices)


def choices(name: str) -> list[tuple[str, Any]]:
    """The registered choices called `name`; none before the app that owns them is ready."""
    return list(_choices.get(name, ()))
