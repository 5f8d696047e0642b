from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers import validators
from dms.names import person_name

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


@register.filter
def person(user) -> str:
    """A staff member's name as people say it: family name first for Chinese names."""
    return person_name(user)


AUDIT_LABELS = {
    "customer_created": gettext_lazy("created"),
    "customer_updated": gettext_lazy("details changed"),
    "customer_merged": gettext_lazy("duplicate merged in"),
    "customer_merged_away": gettext_lazy("merged into another customer"),
    "vehicle_created": gettext_lazy("vehicle added"),
    "vehicle_updated": gettext_lazy("vehicle changed"),
    "owner_changed": gettext_lazy("owner changed"),
}


@register.filter
def audit_label(action: str) -> str:
    label = AUDIT_LABELS.get(action)
    return str(label) if label else action
