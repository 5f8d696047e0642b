"""Writing the audit trail. Every state change in every app goes through `record()`, or
`record_many()` when a batch worker makes the same move for many rows at once."""

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from .bulk import insert_many
from .models import AuditEntry

# Callbacks run after commit for each audit entry (webhooks subscribe here): pairs of
# (listener(entry_id), many(entry_ids) or None).
_listeners: list[tuple[Callable, Callable | None]] = []


def subscribe(listener, *, many=None) -> None:
    """Register `listener(entry_id)`, called after the transaction that wrote an entry commits.
    `many(entry_ids)`, if given, is called instead with all the entries of one `record_many()`;
    without it `listener` is called for each of them."""
    if all(one is not listener for one, _many in _listeners):
        _listeners.append((listener, many))


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
    for listener, _many in list(_listeners):
        transaction.on_commit(lambda entry_id=entry.pk, fn=listener: fn(entry_id))
    return entry


def record_many(
    *,
    model: type[models.Model],
    subjects: Sequence[tuple[int, int | None]],
    action: str,
    actor=None,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
    data: dict[str, Any] | None = None,
) -> list[int]:
    """`record()` for many rows of `model` that made the same move: the same entries (one per
    subject, given as `(pk, site_id)` pairs), written in one INSERT; the listeners hear of them
    after commit. Returns the entry ids in the order of `subjects`."""
    if not subjects:
        return []
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    ids = insert_many(
        AuditEntry,
        per_row={
            "object_id": [pk for pk, _site in subjects],
            "site_id": [site_id for _pk, site_id in subjects],
        },
        same={
            "content_type_id": content_type.pk,
            "actor_id": actor.pk if getattr(actor, "is_authenticated", False) else None,
            "action": action,
            "from_state": from_state or "",
            "to_state": to_state or "",
            "note": note or "",
            "data": data or {},
        },
    )
    for listener, many in list(_listeners):
        if many is not None:
            transaction.on_commit(lambda fn=many: fn(ids))
        else:
            transaction.on_commit(lambda fn=listener: [fn(entry_id) for entry_id in ids])
    return ids


def history(subject: models.Model):
    ct = ContentType.objects.get_for_model(subject, for_concrete_model=False)
    return (
        AuditEntry.objects.filter(content_type=ct, object_id=subject.pk)
        .select_related("actor")
        .order_by("at", "id")
    )
