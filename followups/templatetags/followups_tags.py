from django import template
from django.utils.translation import pgettext_lazy

from followups.selectors import display_name

register = template.Library()


@register.filter
def staffname(user) -> str:
    """A staff member's name as people say it (Chinese: family name first, no space)."""
    return display_name(user)


ACTIONS = {
    "opened": pgettext_lazy("audit action", "opened"),
    "assigned": pgettext_lazy("audit action", "handler assigned"),
    "taken_over": pgettext_lazy("audit action", "taken over"),
    "contacted": pgettext_lazy("audit action", "customer contacted"),
    "decided_our_fault": pgettext_lazy("audit action", "decided: our fault"),
    "decided_not_our_fault": pgettext_lazy("audit action", "decided: not our fault"),
    "resolved": pgettext_lazy("audit action", "resolved"),
    "closed": pgettext_lazy("audit action", "closed — customer satisfied"),
    "reopened": pgettext_lazy("audit action", "reopened — customer not satisfied"),
    "escalated": pgettext_lazy("audit action", "escalated to the service manager"),
    "scheduled": pgettext_lazy("audit action", "scheduled"),
    "open": pgettext_lazy("audit action", "put on the desk"),
    "retry": pgettext_lazy("audit action", "no answer — retry later"),
    "wrong_number": pgettext_lazy("audit action", "wrong number"),
    "unreachable": pgettext_lazy("audit action", "unreachable"),
    "outcome_reached": pgettext_lazy("audit action", "reached"),
    "queued": pgettext_lazy("audit action", "handed to the sending queue"),
    "sent": pgettext_lazy("audit action", "sent"),
    "wait": pgettext_lazy("audit action", "waiting for allowed hours"),
    "cancelled": pgettext_lazy("audit action", "cancelled"),
    "message_fallback": pgettext_lazy("audit action", "message failed — sent by another channel"),
    "message_failed": pgettext_lazy("audit action", "message failed"),
    "outcome_confirmed": pgettext_lazy("audit action", "appointment confirmed"),
    "outcome_reschedule": pgettext_lazy("audit action", "appointment to be moved"),
    "outcome_cancel": pgettext_lazy("audit action", "appointment cancelled"),
}


@register.filter
def action_label(action: str) -> str:
    """An audit action as the people reading the history say it."""
    return str(ACTIONS.get(action, action))


@register.filter
def complaint_state(value: str) -> str:
    """A complaint's state code in the history ("open", "assigned") as its translated name."""
    from followups.models import ComplaintStatus

    try:
        return str(ComplaintStatus(value).label)
    except ValueError:
        return value
