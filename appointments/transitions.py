"""The appointment lifecycle as data: booked → confirmed → arrived | cancelled | no_show, and
rescheduling while the customer waits for a new time.

A reschedule is not a status move: it changes the slot, keeps the status and is audited as
"rescheduled" with the old and new start.
"""

from .models import AppointmentStatus as S

TRANSITIONS: dict[str, set[str]] = {
    S.BOOKED: {S.CONFIRMED, S.RESCHEDULING, S.ARRIVED, S.CANCELLED, S.NO_SHOW},
    S.CONFIRMED: {S.RESCHEDULING, S.ARRIVED, S.CANCELLED, S.NO_SHOW},
    # the customer asked for another time (replied "2" to the reminder): the slot is held until
    # an agent agrees the new time with them (reschedule → booked)
    S.RESCHEDULING: {S.BOOKED, S.ARRIVED, S.CANCELLED, S.NO_SHOW},
    S.ARRIVED: set(),
    S.CANCELLED: set(),
    S.NO_SHOW: set(),
}

# States in which the slot may still be moved.
RESCHEDULABLE = {S.BOOKED, S.CONFIRMED, S.RESCHEDULING}
