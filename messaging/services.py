"""Writes of the messaging layer: queue a message, send it once, record what providers and
customers answer.

`message_send()` is the one way any app sends a customer a message. Sending happens after the
commit, in a Celery worker (`messaging.tasks.deliver`), which takes the row `queued → sending`
(committed before the provider is called), calls the provider with our idempotency key and
records its answer (`sent`, or back to `queued` with a backoff, or `failed`). A worker that dies
in between leaves the row `sending`; the minute sweeper asks the provider whether it has the
message and only sends again when it does not (`message_reconcile`). Status callbacks move
`sent → delivered | failed`. Upper layers learn of failures and replies through the signals in
`messaging.signals`.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError, ConflictError
from dms.statemachine import move

from . import backends, signals
from .defaults import DEFAULT_BODIES
from .models import (
    InboundMessage,
    MessageChannel,
    MessageKind,
    MessageStatus,
    MessageTemplate,
    OutboundMessage,
    Provider,
    SiteChannel,
    WeChatLink,
)
from .transitions import MESSAGE_TRANSITIONS

log = logging.getLogger(__name__)

# Messages the customer asked for themselves: they go at once, whatever the hour.
REQUESTED_KINDS = (MessageKind.ONE_TIME_CODE, MessageKind.STATUS_LINK)
# A row `queued` for longer than this after it was handed to the broker was lost (broker down,
# worker died before it started): the sweeper hands it out again.
REQUEUE_AFTER = timedelta(minutes=5)
# A row `sending` for longer than this had its worker die between the provider's answer and the
# commit: the sweeper reconciles it with the provider.
RECONCILE_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 8
# Retries due within this go to the broker with a countdown; later ones wait in the database.
MAX_COUNTDOWN = timedelta(minutes=10)
OPT_OUT_WORDS = {"td", "t", "退订", "stop", "stopall", "unsubscribe", "cancel", "end", "quit"}


class TemplateError(ApplicationError):
    """A template that cannot be filled (unknown or missing placeholders)."""


# --- hooks the upper layers register -----------------------------------------------------------
# (site, customer, channel, kind, at) -> first allowed moment at or after `at`, or None when
# the customer may not be contacted on that channel. The outreach layer registers its one
# contact-window rule at start-up; without one, any time is allowed.
_contact_window: list[Callable] = []


def register_contact_window(fn: Callable) -> None:
    _contact_window[:] = [fn]


def _allowed_at(*, site, customer, channel: str, kind: str, at: datetime) -> datetime | None:
    if customer is None or kind in REQUESTED_KINDS or not _contact_window:
        return at
    return _contact_window[0](site=site, customer=customer, channel=channel, kind=kind, at=at)


# kind -> fn(message) -> why a queued message of that kind no longer goes out (the event it is
# about was called off since it was written), or None. Registered by the layer that writes such
# messages (portal: the survey invitation, written at delivery for days later); asked before
# each send, so a message already sent is never affected.
_withdrawn: dict[str, Callable] = {}


def register_withdrawal(kind: str, fn: Callable) -> None:
    _withdrawn[kind] = fn


# --- consent and addresses ---------------------------------------------------------------------
def consent(customer, channel: str) -> bool:
    """The customer allows this channel and we have an address for it."""
    if channel == MessageChannel.SMS:
        return customer.consent_sms and bool(customer.phone)
    if channel == MessageChannel.EMAIL:
        return customer.consent_email and bool(customer.email)
    if channel == MessageChannel.WECHAT:
        link = WeChatLink.objects.filter(customer=customer).first()
        return bool(link and link.consent and link.openid)
    return False


def address(customer, channel: str) -> str:
    if channel == MessageChannel.SMS:
        return customer.phone
    if channel == MessageChannel.EMAIL:
        return customer.email
    link = WeChatLink.objects.filter(customer=customer).first()
    return link.openid if link else ""


def site_channels(site) -> dict[str, SiteChannel]:
    """The site's active channels; a site with none configured sends SMS through the recording
    backend and e-mail through Django's EMAIL_BACKEND."""
    configured = {
        c.channel: c
        for c in SiteChannel.objects.filter(site=site, active=True)
        if c.provider in backends.BACKENDS  # a provider without a backend here sends nothing
    }
    if not SiteChannel.objects.filter(site=site).exists():
        for channel, provider in settings.DMS_MESSAGING_DEFAULT_PROVIDERS.items():
            configured[channel] = SiteChannel(site=site, channel=channel, provider=provider)
    return configured


def channels_in_order(*, site, customer) -> list[str]:
    """The channels a message may take to this customer, best first: the customer's preferred
    channel, then WeChat, SMS, e-mail; only those the site has and the customer allows."""
    available = site_channels(site)
    order = [customer.preferred_channel] if customer.preferred_channel in available else []
    order += [MessageChannel.WECHAT, MessageChannel.SMS, MessageChannel.EMAIL]
    seen: list[str] = []
    for channel in order:
        if channel in available and channel not in seen and consent(customer, channel):
            seen.append(channel)
    return seen


# --- WeChat: the customer links their account --------------------------------------------------
def wechat_backend(site) -> backends.WeChatBackend | None:
    """The backend of the site's active WeChat service account, when its account has an AppID
    in the settings (what web authorization needs); None otherwise."""
    config = site_channels(site).get(MessageChannel.WECHAT)
    if config is None or config.provider != Provider.WECHAT:
        return None
    backend = _backend(config)
    return backend if backend.account.get("app_id") else None


def wechat_link_offered(*, site, customer) -> bool:
    """Whether to offer this customer to link their WeChat: the site sends by WeChat and the
    customer has no linked WeChat that accepts messages (one who sent 退订 may link again)."""
    if customer is None or wechat_backend(site) is None:
        return False
    return not consent(customer, MessageChannel.WECHAT)


def wechat_authorize_url(*, site, redirect_uri: str, state: str) -> str:
    """WeChat's authorization page for the site's service account."""
    backend = wechat_backend(site)
    if backend is None:
        raise ApplicationError(_("This site does not send messages by WeChat."))
    return backend.authorize_url(redirect_uri=redirect_uri, state=state)


def wechat_openid_for_code(*, site, code: str) -> str:
    """The customer's openid from the code WeChat's authorization page gave. Any failure is an
    ApplicationError the customer can act on (start again), never a crash."""
    backend = wechat_backend(site)
    if backend is None:
        raise ApplicationError(_("This site does not send messages by WeChat."))
    if not code:
        raise ApplicationError(
            _("WeChat did not confirm your account. Please try again."), extra={"code": "no_code"}
        )
    try:
        return backend.openid_for_code(code)
    except backends.AuthorizationFailed as exc:
        log.warning("WeChat authorization failed for site %s: %s", site.pk, exc)
        if exc.code == "snapshot":
            message = _(
                "WeChat opened this page in preview mode. Tap “Use full service” at the "
                "bottom of the page, then try again."
            )
        elif exc.code == "connect":
            message = _("WeChat could not be reached. Please try again in a minute.")
        else:
            message = _(
                "WeChat did not confirm your account (the request may have expired). "
                "Please try again."
            )
        raise ApplicationError(message, extra={"code": exc.code or "wechat"}) from exc


def wechat_link_record(
    *, customer, openid: str, consent: bool = True, now: datetime | None = None
) -> WeChatLink:
    """Link the customer's WeChat (their openid for the site's service account) with their
    consent to be sent messages there. Linking again updates the openid and consent. An
    openid already linked to another customer of the same site is refused (409): one WeChat
    account gets one customer's messages."""
    from customers.models import Customer

    now = now or timezone.now()
    openid = (openid or "").strip()
    if not openid or len(openid) > WeChatLink._meta.get_field("openid").max_length:
        raise ApplicationError(_("WeChat gave no usable account id."), fields={"openid": openid})
    with transaction.atomic():
        # the customer's row serialises their own links; another customer's link is checked
        customer = Customer.objects.select_for_update().select_related("site").get(pk=customer.pk)
        taken = (
            WeChatLink.objects.filter(openid=openid, customer__site_id=customer.site_id)
            .exclude(customer=customer)
            .exists()
        )
        if taken:
            raise ConflictError(
                _(
                    "This WeChat account already receives another customer's messages at "
                    "%(site)s. Please ask your service advisor."
                )
                % {"site": customer.site.name},
                extra={"code": "openid_taken"},
            )
        link, created = WeChatLink.objects.select_for_update().get_or_create(
            customer=customer,
            defaults={"openid": openid, "consent": consent, "consent_at": now},
        )
        if not created:
            link.openid, link.consent, link.consent_at = openid, consent, now
            link.save(update_fields=["openid", "consent", "consent_at"])
        audit.record(
            subject=customer,
            action="wechat_linked",
            note="wechat",
            site=customer.site,
            data={"consent": consent, "openid_end": openid[-6:], "relinked": not created},
        )
    return link


# --- templates ---------------------------------------------------------------------------------
def placeholders(text: str) -> list[str]:
    """The `{name}` placeholders of a template; anything else in braces is refused."""
    names = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(
            _("The text has an unmatched brace: %(e)s") % {"e": exc}, fields={"body": str(exc)}
        ) from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise TemplateError(
                _("“{%(name)s}” is not a placeholder; use {name} with letters and _ only.")
                % {"name": name},
                fields={"body": _("Only {name} placeholders are allowed.")},
            )
        names.append(name)
    return names


def render(text: str, context: dict) -> str:
    """Fill `{name}` placeholders; a missing value is a clear error, never a half message."""
    missing = [n for n in placeholders(text) if context.get(n) in (None, "")]
    if missing:
        raise TemplateError(
            _("No value for: %(names)s.") % {"names": ", ".join(sorted(set(missing)))},
            fields={"body": _("Missing: %(names)s") % {"names": ", ".join(sorted(set(missing)))}},
        )
    return text.format_map({k: str(v) for k, v in context.items()})


def template_for(
    *, site, kind: str, channel: str, language: str, fallback: str | None = None
) -> tuple[str, str, str]:
    """(subject, body, provider template code) of the site's template, in the language asked
    for, else the site's default language, else in any language when there is a `fallback`
    text or the provider only sends approved templates, else `fallback` (a text already
    written), else the built-in text."""
    for lang in dict.fromkeys([language, settings.LANGUAGE_CODE]):
        tpl = MessageTemplate.objects.filter(
            site=site, kind=kind, channel=channel, language=lang
        ).first()
        if tpl is not None:
            return tpl.subject, tpl.body, tpl.provider_template
    # the site's template in another language beats a text the provider has not approved
    tpl = MessageTemplate.objects.filter(site=site, kind=kind, channel=channel).first()
    if tpl is not None and (fallback or _needs_template_code(site, channel)):
        return tpl.subject, tpl.body, tpl.provider_template
    if fallback:
        return "", fallback.replace("{", "{{").replace("}", "}}"), ""
    with translation.override(language):
        return "", str(DEFAULT_BODIES[kind]), ""


def _needs_template_code(site, channel: str) -> bool:
    config = site_channels(site).get(channel)
    return bool(config and config.provider in (Provider.ALIYUN, Provider.WECHAT))


def base_context(*, site, customer) -> dict:
    context = {"site_name": site.name, "site_phone": site.phone}
    if customer is not None:
        context["customer_name"] = customer.name
    return context


# --- queueing ----------------------------------------------------------------------------------
def message_send(
    *,
    site,
    kind: str,
    context: dict,
    customer=None,
    to: str | None = None,
    channel: str | None = None,
    language: str | None = None,
    source_key: str | None = None,
    body: str | None = None,
    send_at: datetime | None = None,
) -> OutboundMessage:
    """Queue one message to a customer (or a bare address) and return its row.

    - `kind`: a `MessageKind` value (appointment_confirmation, reminder_day_before,
      can_you_make_it, additional_work, delay_notice, car_ready, followup_survey,
      care_reminder, one_time_code, status_link).
    - `context`: the values for the template's `{placeholders}` (see `defaults.KIND_FIELDS`);
      customer_name, site_name and site_phone are added. A placeholder without a value
      raises `TemplateError` (an ApplicationError, 400) and nothing is queued.
    - `customer`: whose preferred allowed channel is used (preferred, then WeChat, SMS,
      e-mail: see `channels_in_order`). Without a customer, `to` is required.
    - `to` / `channel`: send to this address / on this channel instead (the channel is guessed
      from `to`: an e-mail address or a phone number). Consent is still checked when a
      customer is given.
    - `language`: the template's language (default: the site language `LANGUAGE_CODE`).
    - `source_key`: what caused it (e.g. "ro:42:ready"); `(site, kind, source_key)` is unique, so
      a second call with the same key returns the first message instead of sending again.
    - `body`: a text already written (e.g. a call task's message), sent when the site has no
      template of its own for this kind, channel and language.
    - `send_at`: not before this time (e.g. the follow-up survey, written at delivery, goes
      when the follow-up falls due); the sweeper hands it out then. Default: now.

    The row is `queued`; after the commit a worker sends it (quiet hours and consent are checked
    again then). Call it inside the transaction of the event that causes the message."""
    if kind not in MessageKind.values:
        raise ApplicationError(_("Unknown message kind “%(k)s”.") % {"k": kind})
    if source_key:
        existing = OutboundMessage.objects.filter(
            site=site, kind=kind, source_key=source_key
        ).first()
        if existing is not None:
            return existing
    language = language or settings.LANGUAGE_CODE
    if channel is None and to:
        channel = MessageChannel.EMAIL if "@" in to else MessageChannel.SMS
    if channel is None:
        if customer is None:
            raise ApplicationError(_("Give a customer or an address to send to."))
        choices = channels_in_order(site=site, customer=customer)
        if not choices:
            raise ApplicationError(
                _("%(name)s accepts no message channel this site has (SMS, WeChat, e-mail).")
                % {"name": customer.name},
                fields={"channel": _("No allowed channel.")},
            )
        channel = choices[0]
    if channel not in MessageChannel.values:
        raise ApplicationError(_("Unknown channel “%(c)s”.") % {"c": channel})
    if customer is not None and not consent(customer, channel):
        raise ApplicationError(
            _("%(name)s does not accept messages by %(channel)s.")
            % {"name": customer.name, "channel": MessageChannel(channel).label},
            fields={"channel": _("Not allowed by the customer.")},
        )
    to = to or (address(customer, channel) if customer is not None else "")
    if not to:
        raise ApplicationError(
            _("No address to send to."), fields={"to": _("No phone, e-mail or WeChat.")}
        )
    config = site_channels(site).get(channel)
    if config is None:
        raise ApplicationError(
            _("This site sends no messages by %(channel)s.")
            % {"channel": MessageChannel(channel).label}
        )
    subject, template, code = template_for(
        site=site, kind=kind, channel=channel, language=language, fallback=body
    )
    values = {**base_context(site=site, customer=customer), **(context or {})}
    text = render(template, values)
    params = {n: str(values[n]) for n in placeholders(template)}
    now = timezone.now()
    later = send_at is not None and send_at > now
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                site=site,
                customer=customer,
                kind=kind,
                source_key=source_key or "",
                channel=channel,
                provider=config.provider,
                language=language,
                to=to,
                subject=render(subject, values)
                if subject
                else _default_subject(site, kind, channel, language),
                body=text,
                provider_template=code,
                params=params,
                next_attempt_at=send_at if later else now,
                # held by the worker it is handed to now; a later one waits for the sweeper
                claimed_at=None if later else now,
            )
    except IntegrityError:  # the same source_key raced us: theirs is the one
        return OutboundMessage.objects.get(site=site, kind=kind, source_key=source_key)
    audit.record(
        subject=message,
        action="queued",
        to_state=message.status,
        note=f"{message.get_kind_display()} → {message.to}",
        data={
            "channel": channel,
            "customer_id": getattr(customer, "pk", None),
            **({"send_at": send_at.isoformat()} if later else {}),
        },
    )
    if not later:
        transaction.on_commit(lambda pk=message.pk: _enqueue(pk))
    return message


def _default_subject(site, kind: str, channel: str, language: str) -> str:
    """An e-mail without a subject of its own is titled with the site and the kind."""
    if channel != MessageChannel.EMAIL:
        return ""
    with translation.override(language):
        return f"{site.name} · {MessageKind(kind).label}"


def _enqueue(message_id: int, countdown: float | None = None) -> None:
    # by name (messaging.tasks.deliver): the tasks import these services, never the reverse
    try:
        current_app.send_task("messaging.tasks.deliver", args=(message_id,), countdown=countdown)
    except Exception:  # broker down: the row stays queued; the sweeper hands it out again
        log.warning("Broker unavailable; message %s waits for the sweeper", message_id)


# --- sending -----------------------------------------------------------------------------------
def _config(message: OutboundMessage) -> SiteChannel:
    config = site_channels(message.site).get(message.channel)
    if config is None or config.provider != message.provider:
        # the site changed its provider since: send through the one configured now
        config = config or SiteChannel(
            site=message.site, channel=message.channel, provider=message.provider
        )
    return config


def _backend(config: SiteChannel):
    return backends.backend_for(
        provider=config.provider,
        account=config.account,
        sign_name=config.sign_name,
        sender=config.sender,
    )


def callback_url(message: OutboundMessage, config: SiteChannel) -> str:
    from django.urls import reverse

    if config.provider != Provider.TWILIO:
        return ""
    path = reverse(
        "messaging:status_callback",
        kwargs={"provider": config.provider, "account": config.account or "-", "token": "-"},
    )
    return settings.DMS_PUBLIC_BASE_URL.rstrip("/") + path


def _outgoing(message: OutboundMessage, config: SiteChannel) -> backends.Outgoing:
    return backends.Outgoing(
        key=str(message.key),
        to=message.to,
        body=message.body,
        subject=message.subject,
        provider_template=message.provider_template,
        params=message.params,
        claimed_at=message.claimed_at,
        callback_url=callback_url(message, config),
    )


def _fail(message: OutboundMessage, *, code: str, error: str, now: datetime) -> None:
    move(
        message,
        to=MessageStatus.FAILED,
        table=MESSAGE_TRANSITIONS,
        note=error,
        data={"code": code} if code else None,
        extra_fields={
            "error_code": code[:64],
            "error": error[:300],
            "failed_at": now,
            "next_attempt_at": None,
        },
    )
    signals.message_failed.send(sender=OutboundMessage, message=message)


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=max(seconds, retry_after or 0))


def _rate_limited(config: SiteChannel, now: datetime) -> bool:
    """True when this site channel already used its per-second budget (Redis counter per
    second; without Redis nothing is limited here and the provider's throttling answer is the
    limit)."""
    url = getattr(settings, "REDIS_URL", "")
    if not url or not config.pk or not config.per_second:
        return False
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        second = int(now.timestamp())
        key = f"dms:msg-rate:{config.pk}:{second}"
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, 2)
        used = pipe.execute()[0]
    except Exception:  # Redis down: do not block sending on the limiter
        return False
    return used > config.per_second


def message_deliver(*, message_id: int, now: datetime | None = None) -> str:
    """The worker's step for one message, once. Returns what happened ("sent", "retry",
    "waiting", "failed", "skipped", "throttled", "unknown")."""
    now = now or timezone.now()
    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("site", "customer")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.status != MessageStatus.QUEUED:
            return "skipped"
        if message.next_attempt_at and message.next_attempt_at > now + timedelta(seconds=5):
            return "skipped"  # a stale hand-out; its retry time has not come
        customer = message.customer
        if customer is not None and not consent(customer, message.channel):
            _fail(
                message,
                code="opted_out",
                error=_("The customer no longer accepts this channel."),
                now=now,
            )
            return "failed"
        withdrawn = _withdrawn.get(message.kind)
        reason = withdrawn(message) if withdrawn is not None else None
        if reason:
            _fail(message, code="withdrawn", error=reason, now=now)
            return "failed"
        allowed = _allowed_at(
            site=message.site, customer=customer, channel=message.channel, kind=message.kind, at=now
        )
        if allowed is None:
            _fail(message, code="opted_out", error=_("The customer may not be contacted."), now=now)
            return "failed"
        if allowed > now + timedelta(minutes=1):
            message.next_attempt_at, message.claimed_at = allowed, None
            message.save(update_fields=["next_attempt_at", "claimed_at", "updated_at"])
            return "waiting"
        config = _config(message)
        if _rate_limited(config, now):
            message.next_attempt_at = message.claimed_at = now + timedelta(seconds=1)
            message.save(update_fields=["next_attempt_at", "claimed_at", "updated_at"])
            transaction.on_commit(lambda: _enqueue(message_id, countdown=1))
            return "throttled"
        move(
            message,
            to=MessageStatus.SENDING,
            table=MESSAGE_TRANSITIONS,
            note=_("Attempt %(n)d") % {"n": message.attempts + 1},
            extra_fields={"attempts": message.attempts + 1, "claimed_at": now},
        )
    # committed: from here on a dead worker leaves `sending`, which is reconciled, not resent
    out = _outgoing(message, config)
    try:
        result = _backend(config).send(out)
    except backends.TransientSendError as exc:
        return _after_transient(message_id, exc, now=now)
    except backends.PermanentSendError as exc:
        with transaction.atomic():
            message = _lock_sending(message_id)
            if message is not None:
                _fail(message, code=exc.code, error=str(exc), now=timezone.now())
        return "failed"
    except backends.UnknownOutcome as exc:
        log.warning("Message %s: no answer from the provider (%s); reconciling", message_id, exc)
        return "unknown"
    with transaction.atomic():
        message = _lock_sending(message_id)
        if message is None:
            return "skipped"
        _record_result(message, result, now=timezone.now())
    return "sent"


def _lock_sending(message_id: int) -> OutboundMessage | None:
    return (
        OutboundMessage.objects.select_for_update()
        .filter(pk=message_id, status=MessageStatus.SENDING)
        .first()
    )


def _record_result(message: OutboundMessage, result: backends.SendResult, *, now) -> None:
    if result.status == "failed":
        message.provider_message_id = result.provider_message_id or ""
        _fail(message, code=result.error_code or "failed", error=result.error or "", now=now)
        return
    to = MessageStatus.DELIVERED if result.status == "delivered" else MessageStatus.SENT
    fields = {
        "provider_message_id": result.provider_message_id or "",
        "sent_at": now,
        "next_attempt_at": None,
    }
    if to == MessageStatus.DELIVERED:
        fields["delivered_at"] = now
    move(
        message,
        to=to,
        table=MESSAGE_TRANSITIONS,
        data={"provider_message_id": result.provider_message_id},
        extra_fields=fields,
    )


def _after_transient(message_id: int, exc: backends.TransientSendError, *, now) -> str:
    with transaction.atomic():
        message = _lock_sending(message_id)
        if message is None:
            return "skipped"
        if message.attempts >= MAX_ATTEMPTS:
            _fail(message, code=exc.code or "gave_up", error=str(exc), now=now)
            return "failed"
        wait = _backoff(message.attempts, exc.retry_after)
        due = now + wait
        # a short wait rides the broker; a long one waits in the database for the sweeper
        on_broker = wait <= MAX_COUNTDOWN
        move(
            message,
            to=MessageStatus.QUEUED,
            table=MESSAGE_TRANSITIONS,
            action="retry",
            note=str(exc)[:300],
            data={"code": exc.code, "retry_in_s": int(wait.total_seconds())},
            extra_fields={
                "next_attempt_at": due,
                "claimed_at": due if on_broker else None,
                "error_code": exc.code[:64],
                "error": str(exc)[:300],
            },
        )
        if on_broker:
            transaction.on_commit(lambda: _enqueue(message_id, countdown=wait.total_seconds()))
    return "retry"


LOOKUP_UNSUPPORTED = object()


def message_reconcile(*, message_id: int, now: datetime | None = None) -> str:
    """A message left `sending` (its worker died or got no answer): ask the provider. Found →
    the provider's state; not found → back to `queued` to be sent (now known not to have
    gone); a provider without a status query → `failed` (at most once: we never risk a
    duplicate), which the upper layers turn into the next channel or a call."""
    now = now or timezone.now()
    message = (
        OutboundMessage.objects.select_related("site")
        .filter(pk=message_id, status=MessageStatus.SENDING)
        .first()
    )
    if message is None:
        return "skipped"
    config = _config(message)
    # the provider is asked with no row lock or transaction held (a status callback for the
    # same message is not kept waiting on a slow provider); the row is locked afterwards and
    # acted on only if it is still `sending`
    try:
        found = _backend(config).lookup(_outgoing(message, config))
    except backends.TransientSendError:
        return "later"  # the provider is down: the next sweep asks again
    except backends.LookupUnsupported:
        found = LOOKUP_UNSUPPORTED
    with transaction.atomic():
        message = _lock_sending(message_id)
        if message is None:
            return "skipped"  # a callback or another reconcile settled it meanwhile
        if found is LOOKUP_UNSUPPORTED:
            _fail(
                message,
                code="unknown",
                error=_(
                    "The provider's answer was lost and it cannot be asked; not sent again "
                    "to avoid a duplicate."
                ),
                now=now,
            )
            return "failed"
        if found is None:
            move(
                message,
                to=MessageStatus.QUEUED,
                table=MESSAGE_TRANSITIONS,
                action="reconciled",
                note=_("The provider does not have it; it will be sent."),
                extra_fields={"next_attempt_at": now, "claimed_at": now},
            )
            transaction.on_commit(lambda: _enqueue(message_id))
            return "requeued"
        _record_result(message, found, now=now)
        return "found"


def messages_sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Beat, every minute: hand out queued messages whose time came and that no worker holds
    (lost hand-outs, waits for allowed hours), and reconcile those stuck in `sending`."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(status=MessageStatus.QUEUED, next_attempt_at__lte=now)
            .exclude(claimed_at__gt=now - REQUEUE_AFTER)
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        OutboundMessage.objects.filter(pk__in=due).update(claimed_at=now)
        transaction.on_commit(lambda: [_enqueue(pk) for pk in due])
    stuck = list(
        OutboundMessage.objects.filter(
            status=MessageStatus.SENDING, claimed_at__lt=now - RECONCILE_AFTER
        ).values_list("id", flat=True)[:limit]
    )
    if stuck:
        for pk in stuck:
            try:
                current_app.send_task("messaging.tasks.reconcile", args=(pk,))
            except Exception:
                log.warning("Broker unavailable; message %s reconciled at the next sweep", pk)
                break
    return {"handed_out": len(due), "reconciling": len(stuck)}


# --- what providers and customers tell us ------------------------------------------------------
def status_report_apply(*, provider: str, report: backends.StatusReport) -> OutboundMessage | None:
    """A provider's status callback for one message (found by its id or our key). Applying the
    same report twice changes nothing."""
    qs = OutboundMessage.objects.select_for_update().filter(provider=provider)
    with transaction.atomic():
        message = None
        if report.key:
            message = qs.filter(key=report.key).first() if _is_uuid(report.key) else None
        if message is None and report.provider_message_id:
            message = qs.filter(provider_message_id=report.provider_message_id).first()
        if message is None:
            return None
        now = timezone.now()
        if report.status == "delivered" and message.status in (
            MessageStatus.SENDING,
            MessageStatus.SENT,
            MessageStatus.FAILED,
        ):
            move(
                message,
                to=MessageStatus.DELIVERED,
                table=MESSAGE_TRANSITIONS,
                note=_("Receipt from the provider"),
                extra_fields={
                    "delivered_at": now,
                    "sent_at": message.sent_at or now,
                    "provider_message_id": message.provider_message_id
                    or report.provider_message_id,
                },
            )
            signals.message_delivered.send(sender=OutboundMessage, message=message)
        elif report.status == "failed" and message.status in (
            MessageStatus.SENDING,
            MessageStatus.SENT,
        ):
            _fail(
                message,
                code=report.error_code or "undelivered",
                error=report.error or _("The provider could not deliver it."),
                now=now,
            )
        return message


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _customer_for(site, channel: str, sender: str):
    from customers.models import Customer

    if channel == MessageChannel.WECHAT:
        link = WeChatLink.objects.filter(openid=sender, customer__site=site).first()
        return link.customer if link else None
    if channel == MessageChannel.EMAIL:
        return Customer.objects.filter(site=site, email__iexact=sender).first()
    return Customer.objects.filter(site=site, phone=sender).order_by("id").first()


def _opt_out(customer, channel: str) -> None:
    from customers.services import customer_set_consent

    if channel == MessageChannel.WECHAT:
        WeChatLink.objects.filter(customer=customer).update(
            consent=False, consent_at=timezone.now()
        )
        audit.record(subject=customer, action="opted_out", note="wechat", site=customer.site)
        return
    customer_set_consent(customer=customer, actor=None, channel=channel, allowed=False)


def inbound_receive(
    *, site_ids: list[int], channel: str, provider: str, report: backends.InboundReport
) -> InboundMessage | None:
    """A customer's reply. Opt-out words (TD, 退订, STOP…) withdraw consent to that channel at
    once; a reply to a message goes to the upper layers (`reply_received`); what none of them
    takes waits on the staff's queue. The same provider message id twice is recorded once."""
    with transaction.atomic():
        if (
            report.provider_message_id
            and InboundMessage.objects.filter(
                provider=provider, provider_message_id=report.provider_message_id
            ).exists()
        ):
            return None
        latest = (
            OutboundMessage.objects.filter(site_id__in=site_ids, channel=channel, to=report.sender)
            .select_related("site", "customer")
            .order_by("-created_at", "-id")
            .first()
        )
        site = latest.site if latest else None
        customer = latest.customer if latest else None
        if site is None:
            from dms.models import Site

            site = Site.objects.filter(pk__in=site_ids).order_by("id").first()
        if site is None:
            return None
        if customer is None:
            customer = _customer_for(site, channel, report.sender)
        inbound = InboundMessage.objects.create(
            site=site,
            customer=customer,
            channel=channel,
            provider=provider,
            provider_message_id=report.provider_message_id,
            sender=report.sender,
            text=report.text,
            reply_to=latest,
        )
        text = report.text.strip()
        if text.lower() in OPT_OUT_WORDS or text in OPT_OUT_WORDS:
            if customer is not None:
                _opt_out(customer, channel)
            inbound.handled = "opt_out"
            inbound.save(update_fields=["handled"])
            return inbound
        choice = text if text in ("1", "2", "3") else ""
        answers = signals.reply_received.send(
            sender=InboundMessage,
            message=latest,
            customer=customer,
            text=text,
            choice=choice,
            inbound=inbound,
        )
        label = next((str(r) for _receiver, r in answers if r), "")
        if label:
            inbound.handled = label[:40]
            inbound.save(update_fields=["handled"])
        return inbound


@transaction.atomic
def inbound_mark_read(*, inbound_id: int, actor) -> InboundMessage:
    from dms.permissions import require_role

    inbound = InboundMessage.objects.select_for_update().get(pk=inbound_id)
    require_role(actor, inbound.site)
    if inbound.read_at is None:
        inbound.read_at = timezone.now()
        inbound.save(update_fields=["read_at"])
    return inbound


# --- the manager's templates ---------------------------------------------------------------------
# kind → [fn(site, customer) -> dict]: upper layers add the values of a real record (the
# customer's next appointment, latest repair order) for the preview.
_preview_sources: list[Callable] = []


def register_preview_source(fn: Callable) -> None:
    if fn not in _preview_sources:
        _preview_sources.append(fn)


def preview_context(*, site, kind: str, customer) -> dict:
    """The values a message of `kind` to this real customer would have today."""
    context = base_context(site=site, customer=customer)
    # values no record holds: a code is made when it is sent, a care reminder says its rule
    context.update({"code": "428913", "text": _("your car is due for its service")})
    for fn in _preview_sources:
        context.update(
            {k: v for k, v in (fn(site=site, kind=kind, customer=customer) or {}).items() if v}
        )
    return context


def allowed_placeholders(kind: str) -> list[str]:
    from .defaults import COMMON_FIELDS, KIND_FIELDS

    return [*COMMON_FIELDS, *KIND_FIELDS.get(kind, ()), "text"]


def template_preview(*, site, kind: str, subject: str, body: str, customer) -> dict:
    """Render a template draft with a real customer's record. Raises TemplateError naming the
    placeholders that are unknown for this kind or have no value for this customer."""
    names = placeholders(body) + placeholders(subject)
    unknown = sorted(set(names) - set(allowed_placeholders(kind)))
    if unknown:
        raise TemplateError(
            _("Unknown placeholders for this kind of message: %(names)s.")
            % {"names": ", ".join("{" + n + "}" for n in unknown)},
            fields={
                "body": _("Allowed: %(names)s")
                % {"names": ", ".join("{" + n + "}" for n in allowed_placeholders(kind))}
            },
        )
    context = preview_context(site=site, kind=kind, customer=customer)
    return {"subject": render(subject, context) if subject else "", "body": render(body, context)}


@transaction.atomic
def template_save(
    *,
    site,
    actor,
    kind: str,
    channel: str,
    language: str,
    subject: str,
    body: str,
    provider_template: str,
    customer,
    template_id: int | None = None,
) -> MessageTemplate:
    """Save a site's template once it renders with a real customer's record (the preview)."""
    from dms.models import Role
    from dms.permissions import require_role

    require_role(actor, site, Role.MANAGER)
    errors = {}
    if kind not in MessageKind.values:
        errors["kind"] = _("Choose a kind of message.")
    if channel not in MessageChannel.values:
        errors["channel"] = _("Choose a channel.")
    if language not in dict(settings.LANGUAGES):
        errors["language"] = _("Choose a language.")
    if not (body or "").strip():
        errors["body"] = _("Write the text.")
    if errors:
        raise ApplicationError(_("The template is incomplete."), fields=errors)
    if customer is None or customer.site_id != site.pk:
        raise ApplicationError(
            _("Preview it with one of this site's customers first."),
            fields={"customer": _("Choose a customer.")},
        )
    template_preview(site=site, kind=kind, subject=subject, body=body, customer=customer)
    config = site_channels(site).get(channel)
    if config and config.provider in (Provider.ALIYUN, Provider.WECHAT) and not provider_template:
        raise ApplicationError(
            _("%(provider)s only sends templates it approved: give its template code.")
            % {"provider": config.get_provider_display()},
            fields={"provider_template": _("Required by the provider.")},
        )
    clash = MessageTemplate.objects.filter(
        site=site, kind=kind, channel=channel, language=language
    ).exclude(pk=template_id)
    if clash.exists():
        raise ApplicationError(
            _("This site already has that template; edit it instead."),
            fields={"kind": _("Already exists for this channel and language.")},
        )
    template = (
        MessageTemplate.objects.select_for_update().get(pk=template_id, site=site)
        if template_id
        else MessageTemplate(site=site)
    )
    for name, value in {
        "kind": kind,
        "channel": channel,
        "language": language,
        "subject": subject.strip(),
        "body": body.strip(),
        "provider_template": provider_template.strip(),
    }.items():
        setattr(template, name, value)
    template.save()
    audit.record(
        subject=template,
        action="template_saved",
        actor=actor,
        note=template.body[:200],
        data={"kind": kind, "channel": channel, "language": language},
    )
    return template
