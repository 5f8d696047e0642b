"""Channel backends for SMS and e-mail. `settings.DMS_SMS_BACKEND` / `DMS_EMAIL_BACKEND` name
a class with `send(*, task, to, body)`; a real gateway raises `TransientSendError` for errors
worth retrying (the worker retries with backoff) and anything else for permanent ones.

A backend may also offer `send_many(messages)` with a list of `Outgoing` records (plain values,
no model instances): the batch worker then hands it a whole group at once; it must send all of
them or raise (the worker then sends that group one task at a time through `send`)."""

from typing import NamedTuple

from dms.bulk import insert_many

from .models import OutboundMessage


class TransientSendError(Exception):
    """The gateway is busy or unreachable; try again later."""


class Outgoing(NamedTuple):
    """One message of a batch, as the batch worker read it."""

    task_id: int
    site_id: int
    channel: str
    to: str
    body: str


class RecordingBackend:
    """The default: records the message in the outbox instead of sending it. The outbox row is
    unique per task, so a task can never be "sent" twice."""

    def send(self, *, task, to: str, body: str) -> OutboundMessage:
        return OutboundMessage.objects.create(
            task=task,
            site=task.site,
            channel=task.channel,
            to=to,
            body=body,
            backend=f"{type(self).__module__}.{type(self).__qualname__}",
        )

    def send_many(self, messages: list[Outgoing]) -> list[int]:
        """All of a batch in one INSERT; returns the outbox ids. The unique task refuses the
        whole batch if any of them was already recorded (the worker then falls back to one at
        a time, where the one already sent is refused alone)."""
        return insert_many(
            OutboundMessage,
            per_row={
                "task_id": [m.task_id for m in messages],
                "site_id": [m.site_id for m in messages],
                "channel": [m.channel for m in messages],
                "to": [m.to for m in messages],
                "body": [m.body for m in messages],
            },
            same={"backend": f"{type(self).__module__}.{type(self).__qualname__}"},
        )
