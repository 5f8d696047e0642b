from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from customers import validators

register = template.Library()


@register.filter
def plate_badge(plate: str):
    """A plate as the car shows it: blue, or green for an 8-character new-energy plate."""
    if not plate:
        return format_html('<span class="muted">{}</span>', _("no plate"))
    css = "plate green" if len(plate) == 8 else "plate"
    return format_html('<span class="{}">{}</span>', css, plate)


@register.filter
def phone(value: str) -> str:
    return validators.format_phone(value)


@register.filter
def retention_badge(customer):
    css = {
        "active": "ok",
        "at_risk": "warn",
        "nearly_lost": "warn",
        "lost": "bad",
        "new": "info",
    }.get(customer.retention, "info")
    return format_html(
        '<span class="badge {}" title="{}">{}</span>',
        css,
        _("retention (3-6-9)"),
        customer.get_retention_display(),
    )
