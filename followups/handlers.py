"""How the follow-up desk reacts to events of the apps below it (connected in apps.py)."""

from .services import followup_schedule_for_delivery


def on_repair_order_delivered(sender, *, repair_order, **kwargs) -> None:
    """A delivered repair order gets its one follow-up call (same transaction)."""
    followup_schedule_for_delivery(repair_order=repair_order)
