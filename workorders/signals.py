"""Domain events of the repair order, for the apps above it (followups, portal, …).

Sent inside the transaction of the change, so whatever a receiver writes (the follow-up call
of a delivery) commits with it or not at all; a receiver that needs the broker or the network
defers that work with transaction.on_commit. Receivers are connected in the receiving app's
AppConfig.ready(); the repair-order app never imports them."""

from django.dispatch import Signal

# repair_order: the RO just opened at check-in (or for a walk-in)
repair_order_opened = Signal()
# repair_order: the advisor asks the customer about the proposed lines (estimate frozen)
approval_requested = Signal()
# repair_order: the RO just delivered (followups schedules its follow-up call in the same
# transaction)
repair_order_delivered = Signal()
