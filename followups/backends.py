"""Channel backends for SMS and e-mail. `settings.DMS_SMS_BACKEND` / `DMS_EMAIL_BACKEND` name
a class with `send(*, task, to, body)`; a real gateway raises `TransientSendError` for errors
worth retrying (the worker retries with backoff) and anything else for permanent ones.

A backend may also offer `send_many(messages)` with a list of `(task, to, body)`: the batch
worker then hands it a whole group at once; it must send all of them or raise."""

from .models import OutboundMessage


class TransientSendError(Exception):
    """The gateway is busy or unreachable; try again later."""


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

    def send_many(self, messages) -> list[OutboundMessage]:
        """All of a batch in one INSERT; the unique task refuses the whole batch if any of
        them was already recorded (the worker then falls back to one at a time)."""
        backend = f"{type(self).__module__}.{type(self).__qualname__}"
        return OutboundMessage.objects.bulk_create(
            OutboundMessage(
                task=task,
                site_id=task.site_id,
                channel=task.channel,
                to=to,
                body=body,
                backend=backend,
            )
            for task, to, body in messages
        )
