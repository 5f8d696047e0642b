"""One way to move a status: lock, check the table and guards, save, audit.

Each app keeps its table in `transitions.py` as `{status: {next statuses}}` and calls `move()`
from its services, inside `transaction.atomic()`.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.db import models, transaction
from django.utils.translation import gettext as _

from . import audit
from .exceptions import ConflictError

M = TypeVar("M", bound=models.Model)


def allowed_moves(table: Mapping[str, Iterable[str]], state: str) -> list[str]:
    return sorted(table.get(state, ()))


def lock(model: type[M], pk: Any) -> M:
    """Re-read a row under `SELECT … FOR UPDATE` (a no-op on SQLite, where writes serialise)."""
    return model.objects.select_for_update().get(pk=pk)


def move(
    obj: M,
    *,
    to: str,
    table: Mapping[str, Iterable[str]],
    actor=None,
    action: str | None = None,
    note: str = "",
    data: dict | None = None,
    guards: Iterable[Callable[[M], None]] = (),
    field: str = "status",
    extra_fields: Mapping[str, Any] | None = None,
    idempotent: bool = True,
) -> tuple[M, bool]:
    """Move `obj` (already locked by the caller) to `to`. Returns (obj, changed).

    A repeated identical request (already in `to`) is a no-op when `idempotent`.
    An illegal move raises ConflictError listing the allowed moves.
    """
    assert transaction.get_connection().in_atomic_block, "move() must run inside a transaction"
    current = getattr(obj, field)
    if current == to and idempotent:
        return obj, False
    allowed = allowed_moves(table, current)
    if to not in allowed:
        raise ConflictError(
            _("Cannot go from “%(from)s” to “%(to)s”. Allowed next: %(allowed)s.")
            % {"from": current, "to": to, "allowed": ", ".join(allowed) or _("none")},
            extra={"state": current, "allowed": allowed},
        )
    for guard in guards:
        guard(obj)
    setattr(obj, field, to)
    update = [field]
    for name, value in (extra_fields or {}).items():
        setattr(obj, name, value)
        update.append(name)
    obj.save(update_fields=update)
    audit.record(
        subject=obj,
        action=action or to,
        actor=actor,
        from_state=current,
        to_state=to,
        note=note,
        data=data,
    )
    return obj, True
