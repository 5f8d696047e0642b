"""The allowed status moves of complaints, as data."""

from .models import ComplaintStatus as C

COMPLAINT_TRANSITIONS: dict[str, set[str]] = {
    C.OPEN: {C.ASSIGNED},
    C.ASSIGNED: {C.ASSIGNED, C.CONTACTED},
    C.CONTACTED: {C.DECIDED},
    C.DECIDED: {C.RESOLVED},
    # the confirming call: satisfied closes it, not satisfied reopens the handling
    C.RESOLVED: {C.CLOSED, C.CONTACTED},
    C.CLOSED: set(),
}
