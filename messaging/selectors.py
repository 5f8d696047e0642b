"""Reads of the messaging layer."""

from django.db.models import QuerySet

from .models import InboundMessage, MessageTemplate, OutboundMessage


def messages_for_source(*, site, prefix: str, limit: int = 50) -> list[OutboundMessage]:
    """The messages something sent (its source keys start with `prefix`, e.g. "ro:42:" or
    "task:7"), newest first, with their delivery state."""
    return list(
        OutboundMessage.objects.filter(site=site, source_key__startswith=prefix).order_by(
            "-created_at", "-id"
        )[:limit]
    )


def messages_for_sources(*, site, keys: list[str]) -> dict[str, list[OutboundMessage]]:
    """Messages per source key, for a page of tasks (one query); a fallback's key
    ("task:7:email") counts under its task's ("task:7")."""
    out: dict[str, list[OutboundMessage]] = {}
    if not keys:
        return out
    wanted = set(keys)
    from django.db.models import Q

    query = Q()
    for key in wanted:
        query |= Q(source_key=key) | Q(source_key__startswith=f"{key}:")
    for message in (
        OutboundMessage.objects.filter(site=site).filter(query).order_by("created_at", "id")
    ):
        base = ":".join(message.source_key.split(":")[:2])
        out.setdefault(base if base in wanted else message.source_key, []).append(message)
    return out


def inbox(*, site, include_read: bool = False) -> QuerySet[InboundMessage]:
    """What customers wrote that no rule acted on: the staff's queue, oldest unread first."""
    qs = InboundMessage.objects.filter(site=site, handled="").select_related("customer", "reply_to")
    if not include_read:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("received_at", "id")


def templates_of(*, site) -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.filter(site=site).order_by("kind", "channel", "language")


def customer_messages(*, customer, limit: int = 10) -> list[OutboundMessage]:
    """What the customer was sent lately, newest first, with the delivery state."""
    return list(
        OutboundMessage.objects.filter(customer=customer).order_by("-created_at", "-id")[:limit]
    )


def customer_replies(*, customer, limit: int = 10) -> list[InboundMessage]:
    return list(
        InboundMessage.objects.filter(customer=customer).order_by("-received_at", "-id")[:limit]
    )
