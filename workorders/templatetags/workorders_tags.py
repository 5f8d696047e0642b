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
