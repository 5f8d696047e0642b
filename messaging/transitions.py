"""The allowed moves of an outbound message, as data."""

from .models import MessageStatus as S

MESSAGE_TRANSITIONS: dict[str, set[str]] = {
    # a worker takes it (its attempt is recorded before the provider is called)
    S.QUEUED: {S.SENDING, S.FAILED},
    # the provider's answer; an unknown answer (worker died, timeout) is reconciled later:
    # back to queued when the provider never had it, or failed/sent as it says
    S.SENDING: {S.SENT, S.DELIVERED, S.FAILED, S.QUEUED},
    # the provider's status callback (or the status query)
    S.SENT: {S.DELIVERED, S.FAILED},
    # a late "failed" after "delivered" does not happen; a late "delivered" after a
    # failure the provider retried on its own does
    S.DELIVERED: set(),
    S.FAILED: {S.DELIVERED},
}
