"""Channel backends for SMS and e-mail. `settings.DMS_SMS_BACKEND` / `DMS_EMAIL_BACKEND` name
a class with `send(*, task, to, body)`; a real gateway raises `TransientSendError` for errors
worth retrying (the worker retries with backoff) and anything else for permanent ones."""

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
