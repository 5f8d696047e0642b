"""Writing the audit trail. Every state change in every app goes through `record()`, or
`record_many()` when a batch worker makes the same move for many rows at once."""

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from celery import signature
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from . import live
from .bulk import insert_many
from .models import AuditEntry

log = logging.getLogger(__name__)

# Callbacks run after commit for each audit entry (webhooks subscribe here): pairs of
# (listener(entry_id), many(entry_ids) or None).
_listeners: list[tuple[Callable, Callable | None]] = []
RETRY_AFTER_SECONDS = 30
# The retry task, by its registered name: dms.tasks imports this module, not the other way round.
RETRY_TASK = "dms.tasks.retry_audit_listener"


def _name(fn: Callable) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def _run(fn: Callable, entry_ids: list[int], *, many: bool) -> None:
    if many:
        fn(entry_ids)
    else:
        for entry_id in entry_ids:
            fn(entry_id)


def call_listener(name: str, entry_ids: list[int]) -> None:
    """Run the listener called `name` (module:qualname) for these entries (the retry task)."""
    for listener, many in _listeners:
        if _name(listener) == name:
            return _run(listener, entry_ids, many=False)
        if many is not None and _name(many) == name:
            return _run(many, entry_ids, many=True)
    module, _sep, qualname = name.partition(":")
    _run(getattr(importlib.import_module(module), qualname), entry_ids, many=False)
    return None


def _after_commit(fn: Callable, entry_ids: list[int], *, many: bool) -> None:
    """The committed change stands whatever a listener does: a failure is logged and the
    listener retried by a Celery task (with backoff), never raised into the request."""
    try:
        _run(fn, entry_ids, many=many)
    except Exception:
        log.exception("Audit listener %s failed for entries %s; retrying", _name(fn), entry_ids)
        try:
            retry = signature(RETRY_TASK, args=(_name(fn), list(entry_ids)))
            retry.apply_async(countdown=RETRY_AFTER_SECONDS)
        except Exception:
            log.exception("Broker unavailable: audit listener %s not retried", _name(fn))


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
    # the site's polled boards answer in full at their next poll (dms.live)
    app = subject._meta.app_label
    transaction.on_commit(lambda site_id=entry.site_id: live.bump(site_id, app))
    for listener, _many in list(_listeners):
        transaction.on_commit(
            lambda entry_id=entry.pk, fn=listener: _after_commit(fn, [entry_id], many=False)
        )
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
    for site_id in {site_id for _pk, site_id in subjects}:
        transaction.on_commit(lambda site_id=site_id: live.bump(site_id, model._meta.app_label))
    for listener, many in list(_listeners):
        if many is not None:
            transaction.on_commit(lambda fn=many: _after_commit(fn, ids, many=True))
        else:
            transaction.on_commit(lambda fn=listener: _after_commit(fn, ids, many=False))
    return ids


def history(subject: models.Model):
    ct = ContentType.objects.get_for_model(subject, for_concrete_model=False)
    return (
        AuditEntry.objects.filter(content_type=ct, object_id=subject.pk)
        .select_related("actor")
        .order_by("at", "id")
    )
