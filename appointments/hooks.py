"""What the apps above appointments do when something happens to an appointment.

Appointments stand below repair orders and never import them: the repair-order app registers
its handler here at start-up (WorkordersConfig.ready) and check-in calls it inside the check-in
transaction, so the repair order commits with the arrival or not at all."""

from collections.abc import Callable
from typing import Any

ArrivalHandler = Callable[..., Any]
_arrival: list[ArrivalHandler] = []


def on_arrival(handler: ArrivalHandler) -> None:
    """Register `handler(appointment=…, actor=…)`, run when a customer checks in; what it
    returns (the repair order opened for the visit) is what check-in returns. One handler:
    registering again replaces it."""
    _arrival[:] = [handler]


def arrived(appointment, *, actor) -> Any:
    """Run the registered arrival handler (inside the caller's transaction); None if none."""
    return _arrival[0](appointment=appointment, actor=actor) if _arrival else None
