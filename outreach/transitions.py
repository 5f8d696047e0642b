"""The allowed status moves of call tasks, as data."""

from .models import TaskStatus as T

TASK_TRANSITIONS: dict[str, set[str]] = {
    # the sweeper claims due rows; a reschedule of the cause can still cancel them
    # (and the customer can answer the follow-up online before it is due: done)
    T.SCHEDULED: {T.QUEUED, T.CANCELLED, T.UNREACHABLE, T.DONE},
    # a worker opens a call on the desk, sends a message, or puts it back to wait for
    # allowed hours; an opted-out channel fails it
    T.QUEUED: {T.OPEN, T.SENT, T.SCHEDULED, T.CANCELLED, T.FAILED, T.UNREACHABLE},
    # an agent records the outcome; "no answer" waits for the next attempt
    T.OPEN: {T.DONE, T.SCHEDULED, T.UNREACHABLE, T.CANCELLED},
    T.DONE: set(),
    # the message was sent; the customer's answer (the survey it links to, a reminder's
    # 1/2/3 reply) is its outcome
    T.SENT: {T.DONE},
    T.UNREACHABLE: set(),
    T.CANCELLED: set(),
    T.FAILED: set(),
}
