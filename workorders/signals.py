"""Events of the repair order for the apps above (sent inside the transaction; receivers defer
their side effects with `transaction.on_commit`)."""

from django.dispatch import Signal

# repair_order: the RO just opened at check-in (or for a walk-in)
repair_order_opened = Signal()
# repair_order: the advisor asks the customer about the proposed lines (estimate frozen)
approval_requested = Signal()
# repair_order: the RO just delivered (its follow-up is scheduled in the same transaction)
repair_order_delivered = Signal()
