"""The texts a site sends until its manager writes its own templates (translated like every
UI string; the message is rendered in the message's language)."""

from django.utils.translation import gettext_lazy as _

from .models import MessageKind as K

# {placeholders} each kind's callers put in the context (besides customer_name, site_name and
# site_phone, which every message has)
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    K.APPOINTMENT_CONFIRMATION: ("start", "plate", "advisor", "link"),
    K.REMINDER_DAY_BEFORE: ("start", "plate"),
    K.CAN_YOU_MAKE_IT: ("start", "plate"),
    K.ADDITIONAL_WORK: ("plate", "link"),
    K.DELAY_NOTICE: ("plate", "promised"),
    K.CAR_READY: ("plate",),
    K.FOLLOWUP_SURVEY: ("plate", "link"),
    K.CARE_REMINDER: ("plate", "text"),
    K.ONE_TIME_CODE: ("code",),
    K.STATUS_LINK: ("link",),
}
COMMON_FIELDS = ("customer_name", "site_name", "site_phone")

DEFAULT_BODIES = {
    K.APPOINTMENT_CONFIRMATION: _(
        "{customer_name}, your service appointment at {site_name} is booked for {start} "
        "({plate}); your service advisor {advisor} will receive you. To change or cancel: "
        "{link}"
    ),
    K.REMINDER_DAY_BEFORE: _(
        "{customer_name}, a reminder: your car {plate} is expected at {site_name} on {start}. "
        "Reply 1 to confirm, 2 to change the time, 3 to cancel."
    ),
    K.CAN_YOU_MAKE_IT: _(
        "{customer_name}, can you make it to {site_name} at {start} ({plate})? "
        "Reply 1 yes, 2 change the time, 3 cancel."
    ),
    K.ADDITIONAL_WORK: _(
        "{customer_name}, while servicing {plate} we found more work that needs your "
        "approval: {link}"
    ),
    K.DELAY_NOTICE: _(
        "{customer_name}, we are sorry: {plate} will be ready later than promised, now by "
        "{promised}. {site_name}, {site_phone}."
    ),
    K.CAR_READY: _(
        "{customer_name}, your car {plate} is ready for collection at {site_name}. "
        "Questions: {site_phone}."
    ),
    K.FOLLOWUP_SURVEY: _(
        "{customer_name}, thank you for your visit to {site_name}. How is {plate} running? "
        "Tell us: {link}"
    ),
    K.CARE_REMINDER: _("{customer_name}, {text} ({plate}). {site_name}, {site_phone}."),
    K.ONE_TIME_CODE: _("{code} is your {site_name} code. It expires in 10 minutes."),
    K.STATUS_LINK: _("{site_name}: follow your car here: {link}"),
}
