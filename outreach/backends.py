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


# What a call task's message is, in the messaging layer's kinds (a site's templates are per
# message kind).
MESSAGE_KINDS = {
    "reminder_day_before": "reminder_day_before",
    "reminder_soon": "can_you_make_it",
    "followup": "followup_survey",
}


def message_source_key(task_id: int) -> str:
    return f"task:{task_id}"


def task_id_of(source_key: str) -> int | None:
    """The call task a message was sent for ("task:<id>" or "task:<id>:<fallback channel>")."""
    parts = source_key.split(":")
    if len(parts) >= 2 and parts[0] == "task" and parts[1].isdigit():
        return int(parts[1])
    return None


def message_context(task) -> dict:
    """The values a site's template may use for a task's message."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    context = {"text": task.message}
    if task.vehicle_id:
        context["plate"] = task.vehicle.plate
    start = parse_datetime(task.data.get("start") or "") if task.data else None
    if start is not None:
        context["start"] = timezone.localtime(start, task.site.tzinfo).strftime("%m-%d %H:%M")
    return context


class MessagingBackend:
    """Hands a task's message to the messaging layer, which sends it through the site's
    provider (templates, receipts, replies, at most once per task)."""

    def send(self, *, task, to: str, body: str):
        from messaging.services import message_send

        return message_send(
            site=task.site,
            kind=MESSAGE_KINDS.get(task.kind, "care_reminder"),
            context=message_context(task),
            customer=task.customer,
            channel=task.channel,
            source_key=message_source_key(task.pk),
            body=body,
        )

    def send_many(self, messages: list[Outgoing]) -> list[int]:
        from .models import CallTask

        tasks = CallTask.objects.select_related("site", "customer", "vehicle").in_bulk(
            [m.task_id for m in messages]
        )
        return [self.send(task=tasks[m.task_id], to=m.to, body=m.body).pk for m in messages]
