"""One way to move a status: lock, check the table and guards, save, audit.

Each app keeps its table in `transitions.py` as `{status: {next statuses}}` and calls `move()`
from its services, inside `transaction.atomic()`.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import models, transaction
from django.utils.translation import gettext as _

from . import audit
from .exceptions import ConflictError

M = TypeVar("M", bound=models.Model)


def allowed_moves(table: Mapping[str, Iterable[str]], state: str) -> list[str]:
    return sorted(table.get(state, ()))


def check_move(table: Mapping[str, Iterable[str]], current: str, to: str) -> None:
    """Raise ConflictError, listing the allowed moves, unless the table lets `current` go to
    `to`."""
    allowed = allowed_moves(table, current)
    if to not in allowed:
        raise ConflictError(
            _("Cannot go from “%(from)s” to “%(to)s”. Allowed next: %(allowed)s.")
            % {"from": current, "to": to, "allowed": ", ".join(allowed) or _("none")},
            extra={"state": current, "allowed": allowed},
        )


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
    check_move(table, current, to)
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


def move_many(
    model: type[models.Model],
    *,
    rows: Sequence[tuple[int, int | None]],
    from_state: str,
    to: str,
    table: Mapping[str, Iterable[str]],
    actor=None,
    action: str | None = None,
    note: str = "",
    data: dict | None = None,
    field: str = "status",
    extra_fields: Mapping[str, Any] | None = None,
) -> int:
    """`move()` for many rows that all make the same move (a batch worker's common case):
    `rows` are `(pk, site_id)` of rows the caller has locked and found in `from_state`.
    The table is checked once, the rows move in one UPDATE guarded by `from_state`, and the
    audit trail gets the same per-row entries `move()` writes, in one INSERT
    (`audit.record_many`). If any row is no longer in `from_state` nothing moves
    (ConflictError, the caller's transaction rolls back). Returns the number of rows moved."""
    assert transaction.get_connection().in_atomic_block, "move_many() must run inside a transaction"
    if not rows:
        return 0
    check_move(table, from_state, to)
    pks = [pk for pk, _site in rows]
    with transaction.atomic():  # a savepoint: a refused batch leaves no row moved
        moved = model.objects.filter(pk__in=pks, **{field: from_state}).update(
            **{field: to, **(extra_fields or {})}
        )
        if moved != len(pks):
            raise ConflictError(
                _("%(n)d of %(total)d rows were no longer “%(from)s”; none was moved.")
                % {"n": len(pks) - moved, "total": len(pks), "from": from_state},
                extra={"state": from_state},
            )
    audit.record_many(
        model=model,
        subjects=rows,
        action=action or to,
        actor=actor,
        from_state=from_state,
        to_state=to,
        note=note,
        data=data,
    )
    return moved
