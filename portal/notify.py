"""Messages to the customer go through the messaging app's one function."""

from __future__ import annotations

import logging

from django.db import transaction

from dms.exceptions import ApplicationError

log = logging.getLogger(__name__)


def send_later(**kwargs) -> None:
    """`messaging.services.message_send(**kwargs)`: the messaging app queues the row and its
    worker sends it. A customer who accepts no channel gets nothing (logged, not an error of
    the page that caused it)."""
    try:
        from messaging.services import message_send
    except ImportError:  # a deployment without the messaging app sends nothing
        log.warning("no %s message sent: the messaging app is not installed", kwargs.get("kind"))
        return
    try:
        with transaction.atomic():
            message_send(**kwargs)
    except ApplicationError as exc:
        log.warning("no %s message sent: %s", kwargs.get("kind"), exc.message)


def on_commit_send(**kwargs) -> None:
    """Send after the transaction that caused the message commits."""
    transaction.on_commit(lambda: send_later(**kwargs))
