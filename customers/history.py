"""What the apps above the archive add to it: reads they register in their AppConfig.ready().

The archive (customers) stands below the repair orders and the call tasks and never imports
them. Its lookup, vehicle history, segmentation and mileage still show what happened above —
open repair orders, visits with their follow-up call and complaints, visits and spend, the
odometer on each repair order — through these readers, registered by workorders and followups.
Without a reader the archive shows nothing of that kind (empty lists, no spend)."""

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

_readers: dict[str, Callable[..., Any]] = {}


def register(name: str, reader: Callable[..., Any]) -> None:
    """Register the reader called `name` (one per name: registering again replaces it):

    - "open_repair_orders": (customer_ids) -> {customer_id: [repair orders, newest first]}
    - "visits": (vehicle) -> [customers.selectors.Visit, newest first]
    - "visits_and_spend": (site, today, customer_ids | None) ->
      {customer_id: {"visits", "spend", "last"}}
    - "odometer_readings": (vehicle) -> [(day, km)]
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


def odometer_readings(vehicle) -> list[tuple[date, int]]:
    reader = _readers.get("odometer_readings")
    return list(reader(vehicle)) if reader else []
