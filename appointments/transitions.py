"""The appointment lifecycle as data: booked → confirmed → arrived | cancelled | no_show.

A reschedule is not a status move: it changes the slot, keeps the status and is audited as
"rescheduled" with the old and new start.
"""

from .models import AppointmentStatus as S

TRANSITIONS: dict[str, set[str]] = {
    S.BOOKED: {S.CONFIRMED, S.ARRIVED, S.CANCELLED, S.NO_SHOW},
    S.CONFIRMED: {S.ARRIVED, S.CANCELLED, S.NO_SHOW},
    S.ARRIVED: set(),
    S.CANCELLED: set(),
    S.NO_SHOW: set(),
}

# States in which the slot may still be moved.
RESCHEDULABLE = {S.BOOKED, S.CONFIRMED}
