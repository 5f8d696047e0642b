"""Writing the audit trail. Every state change in every app goes through `record()`."""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from .models import AuditEntry

# Callbacks run after commit for each audit entry (webhooks subscribe here).
_listeners: list = []


def subscribe(listener) -> None:
    """Register `listener(entry_id)`, called after the transaction that wrote an entry commits."""
    if listener not in _listeners:
        _listeners.append(listener)


def record(
    *,
    subject: models.Model,
    action: str,
    actor=None,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
    data: dict[str, Any] | None = None,
    site=None,
) -> AuditEntry:
    if site is None:
        site = getattr(subject, "site", None)
    entry = AuditEntry.objects.create(
        site=site,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        content_type=ContentType.objects.get_for_model(subject, for_concrete_model=False),
        object_id=subject.pk,
        action=action,
        from_state=from_state or "",
        to_state=to_state or "",
        note=note or "",
        data=data or {},
    )
    for listener in list(_listeners):
        transaction.on_commit(lambda entry_id=entry.pk, fn=listener: fn(entry_id))
    return entry


def history(subject: models.Model):
    ct = ContentType.objects.get_for_model(subject, for_concrete_model=False)
    return (
        AuditEntry.objects.filter(content_type=ct, object_id=subject.pk)
        .select_related("actor")
        .order_by("at", "id")
    )
