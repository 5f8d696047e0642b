"""Small display helpers for the workshop screens."""

from django import template
from django.utils.translation import gettext as _

register = template.Library()


def duration_formats():
    """`duration` with its words looked up once, for rendering many cards."""
    days_hours = _("%(days)s d %(hours)s h")
    hours_minutes = _("%(hours)s h %(minutes)s min")
    only_minutes = _("%(minutes)s min")

    def fmt(minutes) -> str:
        if minutes is None:
            return ""
        hours, mins = divmod(abs(int(minutes)), 60)
        if hours >= 48:
            return days_hours % {"days": hours // 24, "hours": hours % 24}
        if hours:
            return hours_minutes % {"hours": hours, "minutes": mins}
        return only_minutes % {"minutes": mins}

    return fmt


@register.filter
def duration(minutes) -> str:
    """135 → "2 h 15 min"; the sign is the caller's business (late cards say "late")."""
    if minutes is None:
        return ""
    minutes = abs(int(minutes))
    hours, mins = divmod(minutes, 60)
    if hours >= 48:
        return _("%(days)s d %(hours)s h") % {"days": hours // 24, "hours": hours % 24}
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": mins}
    return _("%(minutes)s min") % {"minutes": mins}


@register.filter
def neg(value) -> bool:
    return value is not None and value < 0


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
