"""Events and webhooks. Every audit entry about a repair order, appointment, call task or
complaint is an event; each active subscription of its site whose filter matches gets one
`WebhookDelivery` row, POSTed as JSON signed as the Standard Webhooks specification says
(`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`, made with its
`standardwebhooks` library) and retried with exponential backoff until `max_attempts`. Every
attempt is logged on the delivery row. The rows are the schedule: a lost broker message is picked
up again by the minute sweeper.

Requests go to the public internet only (`dms.outbound`: https, every resolved address checked,
the connection pinned to the checked address, no redirects, bounded answer and time), and never
while a database transaction or row lock is held: an attempt is claimed in one short transaction
(its next attempt moved a lease ahead, so no other worker takes it meanwhile), POSTed, and its
result written in a second one."""

import base64
import json
import logging
import secrets
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone
from standardwebhooks import Webhook

from dms import outbound
from dms.models import AuditEntry

from . import queue
from .models import DeliveryStatus, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

# content type "app_label.model" → event subject name. The engine names its own call tasks; the
# apps above register theirs (repair orders, appointments, complaints) in their ready().
SUBJECTS = {"outreach.calltask": "call_task"}


def register_subject(model, name: str) -> None:
    """Audit entries about rows of `model` become webhook events named `<name>.<action>`."""
    SUBJECTS[model._meta.label_lower] = name


BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
TIMEOUT_SECONDS = outbound.TIMEOUT_SECONDS
# An attempt in flight holds its delivery this long; a worker that died mid-attempt leaves it
# to be picked up again by the sweeper after that.
LEASE_SECONDS = 2 * TIMEOUT_SECONDS + 30
SECRET_PREFIX = "whsec_"  # noqa: S105 — the specification's prefix, not a secret


def backoff(attempts: int) -> timedelta:
    """Wait before attempt n+1: 30 s, 1 min, 2 min, 4 min … capped at 6 h."""
    return timedelta(
        seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    )


def new_secret() -> str:
    """A signing secret as the Standard Webhooks specification writes one: whsec_ + base64 of
    32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _signer(secret: str) -> Webhook:
    """The key is the base64 after `whsec_` (the specification's form, as generated); a secret
    typed without the prefix is used as its UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return Webhook(secret)
    return Webhook(secret.encode())


def signature_headers(*, secret: str, message_id: str, at: datetime, body: bytes) -> dict:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": _signer(secret).sign(message_id, at, body.decode()),
    }


def event_payload(entry: AuditEntry, subject: str) -> dict:
    return {
        "id": entry.pk,
        "event": f"{subject}.{entry.action}",
        "at": entry.at.isoformat(),
        "site": entry.site.code if entry.site_id else None,
        "subject": {"type": subject, "id": entry.object_id},
        "action": entry.action,
        "from": entry.from_state,
        "to": entry.to_state,
        "actor": entry.actor.get_username() if entry.actor_id else None,
        "note": entry.note,
        "data": entry.data,
    }


def _matches(filters: list, event: str) -> bool:
    return not filters or any(event == f or event.startswith(f"{f}.") for f in filters)


def events_publish(entry_id: int) -> list[int]:
    """`dms.audit` listener (after commit): create the deliveries of one event and enqueue them.

    The active subscriptions of the entry's site are read first, by the entry's site in the
    same query: an entry of a site without any — every write of a site with no integration —
    costs that one small read, not also the entry's with its type, site and actor."""
    entry_site = AuditEntry.objects.filter(pk=entry_id).values("site_id")[:1]
    active = list(WebhookSubscription.objects.filter(site_id=Subquery(entry_site), active=True))
    if not active:
        return []
    entry = (
        AuditEntry.objects.select_related("content_type", "site", "actor")
        .filter(pk=entry_id)
        .first()
    )
    if entry is None or entry.site_id is None:
        return []
    subject = SUBJECTS.get(f"{entry.content_type.app_label}.{entry.content_type.model}")
    if subject is None:
        return []
    subscriptions = [s for s in active if _matches(s.events, f"{subject}.{entry.action}")]
    if not subscriptions:
        return []
    payload = json.loads(json.dumps(event_payload(entry, subject), cls=DjangoJSONEncoder))
    now = timezone.now()
    ids = []
    for sub in subscriptions:
        delivery, created = WebhookDelivery.objects.get_or_create(
            subscription=sub,
            entry=entry,
            defaults={"event": payload["event"], "payload": payload, "next_attempt_at": now},
        )
        if created:
            ids.append(delivery.pk)
    _enqueue(ids)
    return ids


def events_publish_many(entry_ids: list[int]) -> list[int]:
    """`events_publish` for a batch of entries (`audit.record_many`, e.g. the batch worker's
    "sent" rows): one small query when no site has an active subscription, the one-entry path
    for the entries of subscribed sites otherwise."""
    if not entry_ids:
        return []
    subscribed = set(
        WebhookSubscription.objects.filter(active=True).values_list("site_id", flat=True)
    )
    if not subscribed:
        return []
    ids = []
    for entry_id in AuditEntry.objects.filter(pk__in=entry_ids, site_id__in=subscribed).values_list(
        "pk", flat=True
    ):
        ids.extend(events_publish(entry_id))
    return ids


def _enqueue(delivery_ids: list[int], countdown: float | None = None) -> None:
    try:
        for delivery_id in delivery_ids:
            queue.enqueue(queue.DELIVER_WEBHOOK, delivery_id, countdown=countdown)
    except Exception:  # broker down: the sweeper sends them later
        log.warning("Broker unavailable; %d webhook deliveries wait", len(delivery_ids))


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str:
    """POST one pending delivery whose time has come. Returns delivered / retry / failed /
    skipped (not pending, not yet due, or another worker has it). The POST is made with no
    transaction open and no row locked."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now):
            return "skipped"
        # claimed: other workers and the sweeper leave it alone until the lease runs out
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)
        )
    sub = delivery.subscription
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "DMS-lite-webhooks/1",
        "X-DMS-Event": delivery.event,
        **signature_headers(
            secret=sub.secret,
            message_id=f"msg_{delivery.pk}",
            at=timezone.now(),
            body=body,
        ),
    }
    answer = outbound.post(sub.url, body=body, headers=headers)
    code, error = answer.status, answer.error
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("subscription")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, attempts=delivery.attempts)
            .first()
        )
        if delivery is None:  # the lease ran out and another worker recorded this attempt
            return "skipped"
        delivery.attempts += 1
        delivery.last_status_code = code
        delivery.last_error = error
        delivery.log = [*delivery.log, {"at": now.isoformat(), "status": code, "error": error}]
        if code is not None and 200 <= code < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            result = "delivered"
        elif delivery.attempts >= delivery.subscription.max_attempts:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            result = "failed"
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            result = "retry"
        delivery.save(
            update_fields=[
                "attempts",
                "last_status_code",
                "last_error",
                "log",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    return result


def deliveries_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue pending deliveries that are due (their broker message may have been lost)."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now - timedelta(seconds=5)
        ).values_list("id", flat=True)[:limit]
    )
    _enqueue(ids)
    return len(ids)
