from django import template

register = template.Library()

BADGE = {
    "draft": "",
    "authorized": "info",
    "in_progress": "info",
    "waiting_approval": "warn",
    "waiting_parts": "warn",
    "work_done": "info",
    "qc": "info",
    "rework": "bad",
    "washing": "info",
    "ready": "ok",
    "invoiced": "ok",
    "delivered": "ok",
    "cancelled": "bad",
    "proposed": "warn",
    "approved": "ok",
    "declined": "bad",
}


@register.filter
def badge(status: str) -> str:
    """The badge colour class of a status."""
    return BADGE.get(status, "")


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def num(value) -> str:
    """A quantity without trailing zeros: 1.50 → 1.5, 4.00 → 4."""
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(str(value)).normalize()
    except (InvalidOperation, ValueError):
        return str(value)
    return format(d, "f")


@register.filter
def person(user) -> str:
    """A staff member's name in the order people use: 李娜 for Chinese names, else "Na Li"."""
    if user is None:
        return ""
    first, last = (user.first_name or "").strip(), (user.last_name or "").strip()
    if not (first or last):
        return user.get_username()
    if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


@register.filter
def state_label(value: str) -> str:
    from workorders.models import ROStatus

    try:
        return str(ROStatus(value).label)
    except ValueError:
        return value


@register.filter
def action_label(value: str) -> str:
    """A readable name for an audit entry's action."""
    from workorders.selectors import AUDIT_LABELS

    return str(AUDIT_LABELS.get(value, value))
