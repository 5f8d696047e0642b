"""Writes of the customer's pages. The rules of booking, approving and the follow-up stay in
their apps' services; this module handles the customer's links and one-time codes, calls those
services and writes an audit row for every customer action naming the link (or code) it came
through.

Links: `link_create()` makes an unguessable, expiring link (only its hash is stored);
`link_resolve()` answers the same NotFoundError for a wrong, expired, revoked or never-made
token. Codes: `code_request()` (rate limited per mobile number and per address) and
`code_confirm()` (a few attempts, expiring, used once); the booking takes a slot only in
`booking_complete()`, after a confirmed code. WeChat: a customer links their WeChat from
their status or booking page through WeChat's web authorization (`wechat_authorize_url()`,
`wechat_consent_ask()`, `wechat_link()`)."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from appointments import selectors as appointment_selectors
from appointments import services as appointment_services
from appointments.models import Appointment, AppointmentStatus, ServiceOffering
from customers import services as customer_services
from customers import validators
from customers.models import Customer, Vehicle
from dms import audit
from dms.compiled import TEXT_PLACEHOLDER, CompiledRead
from dms.exceptions import ApplicationError, ConflictError, NotFoundError
from dms.models import Site
from dms.names import person_name
from messaging import services as messaging_services
from messaging.models import WeChatLink
from workorders.models import RepairOrder

from . import notify
from .models import CustomerLink, OneTimeCode

P = CustomerLink.Purpose

STATUS_LINK_DAYS = 30
SURVEY_LINK_DAYS = 14
CODE_MINUTES = 10
CODE_ATTEMPTS = 5
CONFIRMED_CODE_MINUTES = 30  # a confirmed code books within this time
# abuse bounds: codes per mobile number and per address
CODES_PER_PHONE = ((timedelta(minutes=15), 3), (timedelta(days=1), 10))
CODES_PER_ADDRESS = ((timedelta(hours=1), 10),)


class RateLimited(ApplicationError):
    status_code = 429


# --- links -----------------------------------------------------------------------------------
def _token_of(nonce: str) -> str:
    return salted_hmac("portal.customer-link", nonce, algorithm="sha256").hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_create(
    *,
    site: Site,
    purpose: str,
    expires_at: datetime,
    repair_order: RepairOrder | None = None,
    appointment: Appointment | None = None,
    call_task_id: int | None = None,
    sent_to: str = "",
) -> tuple[CustomerLink, str]:
    """A new link; returns it with its token (the only time the token is handed out)."""
    nonce = secrets.token_hex(16)
    token = _token_of(nonce)
    link = CustomerLink.objects.create(
        site=site,
        purpose=purpose,
        token_hash=_hash(token),
        nonce=nonce,
        repair_order=repair_order,
        appointment=appointment,
        call_task_id=call_task_id,
        expires_at=expires_at,
        sent_to=sent_to,
    )
    return link, token


def link_token(link: CustomerLink) -> str:
    """The token of a link, for the staff page that shows the customer's link."""
    return _token_of(link.nonce)


def _resolvable(token: str) -> str | None:
    """The hash a token is looked up by; None for a token no link can have."""
    return _hash(token) if 20 <= len(token) <= 128 else None


def _check_live(token_hash, revoked_at, expires_at, *, token: str, now: datetime) -> None:
    if (
        not constant_time_compare(token_hash, _hash(token))
        or revoked_at is not None
        or expires_at <= now
    ):
        raise NotFoundError(_("This link is not valid."))


def link_resolve(*, token: str, purpose: str, now: datetime | None = None) -> CustomerLink:
    """The live link of `token`. A wrong, expired, revoked or never-made token: the same
    NotFoundError (nothing tells them apart)."""
    now = now or timezone.now()
    token = str(token or "")
    lookup = _resolvable(token)
    link = (
        CustomerLink.objects.select_related("site")
        .filter(token_hash=lookup, purpose=purpose)
        .first()
        if lookup
        else None
    )
    if link is None:
        raise NotFoundError(_("This link is not valid."))
    _check_live(link.token_hash, link.revoked_at, link.expires_at, token=token, now=now)
    return link


def link_values(
    *, token: str, purpose: str, fields: tuple[str, ...], now: datetime | None = None
) -> dict:
    """`fields` of the live link of `token` (they may follow its relations), in one query and
    without building the link: for a poll that needs a few values, not the link. The same
    NotFoundError as `link_resolve` for any link that is not live."""
    now = now or timezone.now()
    token = str(token or "")
    lookup = _resolvable(token)
    row = _link_values_row(lookup, purpose, tuple(fields)) if lookup else None
    if row is None:
        raise NotFoundError(_("This link is not valid."))
    _check_live(row["token_hash"], row["revoked_at"], row["expires_at"], token=token, now=now)
    return row


@functools.cache
def _link_values_read(purpose: str, fields: tuple[str, ...]) -> CompiledRead:
    """The live-link read of `link_values`, compiled once per purpose and fields
    (dms.compiled): the customer's status poll makes it every 10 s per open page, and its
    statement was built and compiled again each time (docs/benchmarks.md, 2026-12-07 13:15)."""
    names = ("token_hash", "revoked_at", "expires_at", *fields)
    return CompiledRead(
        CustomerLink,
        lambda token_hash: (
            CustomerLink.objects.filter(token_hash=token_hash, purpose=purpose)
            .values(*names)
            .order_by("pk")[:1]
        ),
        layout=names,
        placeholder=TEXT_PLACEHOLDER,
    )


def _link_values_row(token_hash: str, purpose: str, fields: tuple[str, ...]) -> dict | None:
    """`CustomerLink.objects.filter(token_hash=…, purpose=…).values(…).first()`."""
    read = _link_values_read(purpose, fields)
    rows = read.rows(token_hash)
    if rows is None:
        return next(iter(read.build(token_hash)), None)
    return dict(zip(read.layout, rows[0], strict=True)) if rows else None


_ROUTES = {P.STATUS: "portal:status", P.BOOKING: "portal:booking", P.SURVEY: "portal:survey"}


def link_url(purpose: str, token: str) -> str:
    """The absolute address of a link, as sent in messages."""
    base = settings.DMS_PUBLIC_BASE_URL.rstrip("/")
    return base + reverse(_ROUTES[purpose], args=[token])


def _record(subject, *, action: str, link: CustomerLink | None = None, **data: Any) -> None:
    """The audit row of a customer action, naming the link it came through."""
    if link is not None:
        data = {"link": link.pk, "purpose": link.purpose, **data}
    audit.record(subject=subject, action=action, actor=None, data=data)


# --- the live status link, made at check-in ---------------------------------------------------
def status_link_issue(
    *, repair_order: RepairOrder, actor=None, now=None, send: bool = True
) -> tuple[CustomerLink, str]:
    """The RO's status link (earlier ones revoked), sent to the customer after the commit
    (`send=False`: made only, for a message of its own that carries it)."""
    now = now or timezone.now()
    ro = repair_order
    CustomerLink.objects.filter(repair_order=ro, purpose=P.STATUS, revoked_at__isnull=True).update(
        revoked_at=now
    )
    link, token = link_create(
        site=ro.site,
        purpose=P.STATUS,
        expires_at=now + timedelta(days=STATUS_LINK_DAYS),
        repair_order=ro,
        sent_to=ro.customer.phone,
    )
    audit.record(
        subject=ro,
        action="status_link_sent" if send else "status_link_made",
        actor=actor,
        data={"link": link.pk, "expires_at": link.expires_at.isoformat()},
    )
    if not send:
        return link, token
    notify.on_commit_send(
        site=ro.site,
        kind="status_link",
        context={"link": link_url(P.STATUS, token), "plate": ro.vehicle.plate},
        customer=ro.customer,
        source_key=f"ro:{ro.pk}:status:{link.pk}",
    )
    return link, token


def status_link_current(*, repair_order: RepairOrder) -> CustomerLink | None:
    return (
        CustomerLink.objects.filter(
            repair_order=repair_order,
            purpose=P.STATUS,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at", "-id")
        .first()
    )


def status_page_url(*, repair_order: RepairOrder) -> str:
    """The full URL of the RO's status page: its current link, or a new one when none is
    valid (made for the caller's message, not sent on its own)."""
    link = status_link_current(repair_order=repair_order)
    if link is None:  # the message that asks for this URL carries it: no status message
        _link, token = status_link_issue(repair_order=repair_order, send=False)
    else:
        token = link_token(link)
    return link_url(P.STATUS, token)


def approval_request_notify(*, repair_order: RepairOrder) -> None:
    """Tell the customer that extra work waits for their answer, with the status link (a new
    one when the RO has none valid), once per estimate version."""
    ro = repair_order
    notify.on_commit_send(
        site=ro.site,
        kind="additional_work",
        context={"link": status_page_url(repair_order=ro), "plate": ro.vehicle.plate},
        customer=ro.customer,
        # the key of the RO page's "send the approval link": one message per version
        source_key=f"ro:{ro.pk}:additional_work:v{ro.estimate_version}",
    )


# --- the survey link, made at delivery --------------------------------------------------------
def survey_link_issue(*, repair_order: RepairOrder, now=None) -> CustomerLink | None:
    """The follow-up survey link of a delivered RO, made at delivery and sent to the customer
    in the follow-up invitation when the follow-up falls due (2–5 days later, once the car has
    been driven; the messaging sweeper sends it then, in the customer's allowed hours). The
    link lives SURVEY_LINK_DAYS from then. None when the RO has no follow-up (the customer
    opted out of everything)."""
    from outreach.models import CallTask, TaskKind, TaskStatus

    now = now or timezone.now()
    ro = repair_order
    task = CallTask.objects.filter(kind=TaskKind.FOLLOWUP, source_key=f"ro:{ro.pk}").first()
    if task is None or task.status == TaskStatus.CANCELLED:
        return None
    existing = CustomerLink.objects.filter(call_task_id=task.pk, purpose=P.SURVEY).first()
    if existing is not None:
        return existing
    invite_at = max(task.due_at or now, now)
    link, token = link_create(
        site=ro.site,
        purpose=P.SURVEY,
        expires_at=invite_at + timedelta(days=SURVEY_LINK_DAYS),
        repair_order=ro,
        call_task_id=task.pk,
        sent_to=ro.customer.phone,
    )
    notify.on_commit_send(
        site=ro.site,
        kind="followup_survey",
        context={"link": link_url(P.SURVEY, token), "plate": ro.vehicle.plate},
        customer=ro.customer,
        source_key=f"ro:{ro.pk}:survey",
        send_at=invite_at,
    )
    return link


def survey_withdrawn(message) -> str | None:
    """Why a queued survey invitation no longer goes out: its visit's follow-up was cancelled
    after delivery (the invitation was written then, to go when the follow-up falls due)."""
    from outreach.models import CallTask, TaskKind, TaskStatus

    ro_id = message.source_key.removeprefix("ro:").removesuffix(":survey")
    if not ro_id.isdigit():
        return None
    status = (
        CallTask.objects.filter(kind=TaskKind.FOLLOWUP, source_key=f"ro:{ro_id}")
        .values_list("status", flat=True)
        .first()
    )
    if status == TaskStatus.CANCELLED:
        return _("The visit's follow-up was cancelled: the survey is not sent.")
    return None


# --- one-time codes and the online booking ----------------------------------------------------
def _code_hash(request_key: str, code: str) -> str:
    return salted_hmac(
        "portal.one-time-code", f"{request_key}:{code}", algorithm="sha256"
    ).hexdigest()


def _limit(qs, rules, message: str) -> None:
    now = timezone.now()
    for window, most in rules:
        if qs.filter(created_at__gte=now - window).count() >= most:
            raise RateLimited(message, extra={"code": "rate_limited"})


def _clean_pending(site: Site, pending: dict) -> dict:
    """The chosen services and time, checked before a code is sent (the booking checks them
    again under its lock)."""
    codes = [str(c) for c in pending.get("services") or [] if str(c).strip()]
    menu = set(
        ServiceOffering.objects.filter(site=site, active=True, code__in=codes).values_list(
            "code", flat=True
        )
    )
    if not codes or set(codes) - menu:
        msg = _("Choose at least one service from the list.")
        raise ApplicationError(msg, fields={"services": msg})
    start = pending.get("start")
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            start = None
    if not isinstance(start, datetime):
        msg = _("Choose a time.")
        raise ApplicationError(msg, fields={"start": msg})
    if timezone.is_naive(start):
        start = timezone.make_aware(start, site.tzinfo)
    slot = appointment_selectors.slot_at(site, start)
    if slot is None or slot.is_buffer or start <= timezone.now():
        msg = _("That time cannot be booked online. Choose one of the free times.")
        raise ApplicationError(msg, fields={"start": msg})
    return {"services": codes, "start": start.isoformat()}


def code_request(
    *, site: Site, phone: str, plate: str, pending: dict, address: str | None
) -> tuple[OneTimeCode, str]:
    """Send a one-time code to the mobile number for this booking (after the commit, through
    the messaging app). Refused (429) past the limits per number and per address; nothing is
    held yet. Returns the row and the code (only its hash is stored; no page shows it)."""
    errors: dict[str, list[str]] = {}
    try:
        phone = validators.normalize_phone(phone, field="phone")
    except ApplicationError as exc:
        errors.update(exc.fields)
    try:
        plate = validators.normalize_plate(plate)
        if not plate:
            errors["plate"] = [_("Enter the plate.")]
    except ApplicationError as exc:
        errors.update(exc.fields)
    if errors:
        raise ApplicationError(next(iter(errors.values()))[0], fields=errors)
    pending = _clean_pending(site, pending)
    _limit(
        OneTimeCode.objects.filter(site=site, phone=phone),
        CODES_PER_PHONE,
        _("Too many codes were sent to this number. Please try again later."),
    )
    if address:
        _limit(
            OneTimeCode.objects.filter(address=address),
            CODES_PER_ADDRESS,
            _("Too many codes were asked for from here. Please try again later."),
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    request_key = secrets.token_urlsafe(24)
    with transaction.atomic():
        row = OneTimeCode.objects.create(
            site=site,
            phone=phone,
            plate=plate,
            request_key=request_key,
            code_hash=_code_hash(request_key, code),
            pending=pending,
            address=address or None,
            expires_at=timezone.now() + timedelta(minutes=CODE_MINUTES),
        )
        audit.record(
            subject=row,
            action="code_sent",
            site=site,
            data={"phone_end": phone[-4:], "address": address},
        )
        notify.on_commit_send(
            site=site,
            kind="one_time_code",
            context={"code": code},
            to=phone,
            source_key=f"otp:{row.pk}",
        )
    return row, code


def _code_row(site: Site, request_key: str, *, lock: bool) -> OneTimeCode:
    qs = OneTimeCode.objects.filter(site=site, request_key=str(request_key or ""))
    row = (qs.select_for_update() if lock else qs).first()
    if row is None:
        raise NotFoundError(_("Ask for a new code."))
    return row


WRONG_CODE = "wrong_code"


def code_confirm(*, site: Site, request_key: str, code: str, now=None) -> OneTimeCode:
    """Check the code: right, unexpired, unused and within the attempts. Each wrong try counts."""
    now = now or timezone.now()
    code = "".join(str(code or "").split())
    with transaction.atomic():
        row = _code_row(site, request_key, lock=True)
        if row.confirmed_at is not None and row.used_at is None:
            return row
        usable = row.used_at is None and row.expires_at > now and row.attempts < CODE_ATTEMPTS
        if usable:
            row.attempts += 1
            ok = constant_time_compare(row.code_hash, _code_hash(row.request_key, code))
            if ok:
                row.confirmed_at = now
            row.save(update_fields=["attempts", "confirmed_at"])
            audit.record(
                subject=row,
                action="code_confirmed" if ok else "code_wrong",
                site=site,
                data={"attempt": row.attempts},
            )
            if ok:
                return row
    left = max(CODE_ATTEMPTS - row.attempts, 0) if usable else 0
    if left:
        msg = _("That code is not right. %(n)s tries left.") % {"n": left}
    else:
        msg = _("This code has expired or was tried too often. Ask for a new code.")
    raise ApplicationError(msg, fields={"code": msg}, extra={"code": WRONG_CODE, "left": left})


def vehicle_known(*, site: Site, row: OneTimeCode) -> bool:
    """Whether the confirmed plate and number match a vehicle and its owner in the archive."""
    vehicle = Vehicle.objects.filter(site=site, plate=row.plate).select_related("owner").first()
    return vehicle is not None and row.phone in (vehicle.owner.phone, vehicle.owner.phone2)


def booking_complete(
    *,
    site: Site,
    request_key: str,
    name: str = "",
    vin: str = "",
    language: str = "",
    now=None,
) -> tuple[Appointment, str]:
    """Book the pending choice of a confirmed code. A known vehicle (plate and mobile as in the
    archive) is booked as it is; an unknown one becomes a new customer and vehicle (name and VIN
    given here) flagged for the advisor to confirm at check-in. Returns the appointment and the
    token of its link (reschedule/cancel), which the confirmation message carries."""
    now = now or timezone.now()
    with transaction.atomic():
        row = _code_row(site, request_key, lock=True)
        if (
            row.confirmed_at is None
            or row.used_at is not None
            or row.confirmed_at + timedelta(minutes=CONFIRMED_CODE_MINUTES) <= now
        ):
            raise ConflictError(_("This code has expired or was used. Ask for a new code."))
        vehicle = Vehicle.objects.filter(site=site, plate=row.plate).select_related("owner").first()
        to_confirm, notes = False, _("Booked online by %(phone)s.") % {"phone": row.phone}
        if vehicle is not None:
            customer = vehicle.owner
            if row.phone not in (customer.phone, customer.phone2):
                to_confirm = True
                notes += " " + _("This number is not the one on file: confirm at check-in.")
        else:
            errors: dict[str, list[str]] = {}
            if not " ".join((name or "").split()):
                errors["name"] = [_("Enter your name.")]
            if not (vin or "").strip():
                errors["vin"] = [_("Enter the VIN from the vehicle licence (行驶证).")]
            if errors:
                raise ApplicationError(
                    _("We do not know this car yet: tell us your name and its VIN."),
                    fields=errors,
                    extra={"code": "new_vehicle"},
                )
            customer = customer_services.customer_create(
                site=site,
                actor=None,
                name=name,
                phone=row.phone,
                notes=_("Created from an online booking: confirm the details at check-in."),
            )
            vehicle = customer_services.vehicle_create(
                site=site,
                owner=customer,
                actor=None,
                vin=vin,
                plate=row.plate,
                acknowledge_vin_warning=True,
            )
            to_confirm = True
            notes += " " + _("New customer and vehicle: confirm the details at check-in.")
        appointment = appointment_services.appointment_book_online(
            site=site,
            customer=customer,
            vehicle=vehicle,
            start=datetime.fromisoformat(row.pending["start"]),
            services=row.pending["services"],
            to_confirm=to_confirm,
            notes=notes,
            now=now,
        )
        row.used_at = now
        row.save(update_fields=["used_at"])
        link, token = link_create(
            site=site,
            purpose=P.BOOKING,
            expires_at=appointment.start + timedelta(days=1),
            appointment=appointment,
            sent_to=row.phone,
        )
        _record(appointment, action="booked_online", link=link, code=row.pk, to_confirm=to_confirm)
        notify.on_commit_send(
            site=site,
            kind="appointment_confirmation",
            context=confirmation_context(appointment, token),
            customer=customer,
            to=row.phone,
            language=language or None,
            source_key=f"appointment:{appointment.pk}:online",
        )
    return appointment, token


def confirmation_context(appointment: Appointment, token: str) -> dict:
    start = timezone.localtime(appointment.start, appointment.site.tzinfo)
    return {
        "start": f"{start:%Y-%m-%d %H:%M}",
        "plate": appointment.vehicle.plate,
        "advisor": person_name(appointment.advisor),
        "link": link_url(P.BOOKING, token),
    }


def booking_reschedule(*, link: CustomerLink, start: datetime, now=None) -> Appointment:
    """The customer moves their booking from the confirmation link (same rules as the desk)."""
    with transaction.atomic():
        appointment = appointment_services.appointment_reschedule_by_customer(
            appointment_id=link.appointment_id, start=start, now=now
        )
        # the link lasts until the day after the (new) appointment
        CustomerLink.objects.filter(pk=link.pk).update(
            expires_at=appointment.start + timedelta(days=1)
        )
        _record(appointment, action="rescheduled_online", link=link, start=start.isoformat())
    return appointment


def booking_cancel(*, link: CustomerLink, reason: str = "") -> Appointment:
    with transaction.atomic():
        appointment = appointment_services.appointment_cancel_by_customer(
            appointment_id=link.appointment_id, reason=reason
        )
        _record(appointment, action="cancelled_online", link=link)
    return appointment


def booking_changeable(appointment: Appointment) -> bool:
    return appointment.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)


# --- answers from the status page and the survey ---------------------------------------------
def approvals_answer(
    *, link: CustomerLink, answers: list[dict], estimate_version: int, customer_name: str
):
    from workorders.services import approval_answer_by_customer

    with transaction.atomic():
        approval = approval_answer_by_customer(
            repair_order_id=link.repair_order_id,
            answers=answers,
            estimate_version=estimate_version,
            customer_name=customer_name,
            via=_("status link"),
        )
        _record(
            approval.repair_order,
            action="approval_answered_online",
            link=link,
            approval=approval.pk,
            version=approval.estimate_version,
        )
    return approval


def survey_answer(*, link: CustomerLink, answer: str, satisfaction, comments: str = ""):
    from followups.services import followup_record_survey

    with transaction.atomic():
        task = followup_record_survey(
            task_id=link.call_task_id,
            answer=answer,
            satisfaction=satisfaction,
            comments=comments,
            via=f"link:{link.pk}",
        )
        _record(task, action="survey_answered_online", link=link)
    return task


def document_for_customer(*, link: CustomerLink, kind: str, approval_id):
    from workorders.documents import document_get_or_make

    doc = document_get_or_make(
        repair_order_id=link.repair_order_id, kind=kind, approval_id=approval_id
    )
    _record(doc.repair_order, action="document_downloaded_online", link=link, document=doc.pk)
    return doc


# --- WeChat: the customer links their account (web authorization, snsapi_base) ---------------
WECHAT_STATE_SECONDS = 10 * 60  # from the page to WeChat and back
WECHAT_CONSENT_SECONDS = 30 * 60  # to read the consent page and answer
WECHAT_PURPOSES = (P.STATUS, P.BOOKING)


def link_customer(link: CustomerLink) -> Customer | None:
    """The customer a status or booking link belongs to."""
    if link.purpose == P.STATUS and link.repair_order_id:
        return RepairOrder.objects.select_related("customer").get(pk=link.repair_order_id).customer
    if link.purpose == P.BOOKING and link.appointment_id:
        return Appointment.objects.select_related("customer").get(pk=link.appointment_id).customer
    return None


def link_page(link: CustomerLink) -> str:
    """The path of the page the link opens (to go back to it)."""
    return reverse(_ROUTES[link.purpose], args=[link_token(link)])


def wechat_offered(*, link: CustomerLink, customer: Customer | None = None) -> bool:
    """Whether the link's page offers "Get updates on WeChat": the site sends by WeChat and
    the customer has not linked it (or withdrew it with 退订)."""
    if link.purpose not in WECHAT_PURPOSES:
        return False
    customer = customer or link_customer(link)
    return messaging_services.wechat_link_offered(site=link.site, customer=customer)


def _state_signature(link_id: int, issued: int, nonce: str) -> str:
    return salted_hmac(
        "portal.wechat-state", f"{link_id}.{issued}.{nonce}", algorithm="sha256"
    ).hexdigest()


def wechat_state(link: CustomerLink, *, now: datetime | None = None) -> str:
    """The `state` WeChat hands back: the link, when it was made and an HMAC of both under the
    server's secret, so a forged or stale callback links nothing. Written by hand rather than
    with django.core.signing because WeChat takes only [a-zA-Z0-9], at most 128 bytes."""
    issued = int((now or timezone.now()).timestamp())
    return f"{link.pk}x{issued}x{_state_signature(link.pk, issued, link.nonce)}"


def _live_link(link_id, *, now: datetime) -> CustomerLink:
    link = CustomerLink.objects.select_related("site").filter(pk=link_id).first()
    if (
        link is None
        or link.purpose not in WECHAT_PURPOSES
        or link.revoked_at is not None
        or link.expires_at <= now
    ):
        raise NotFoundError(_("This link is not valid."))
    return link


def wechat_state_link(state: str, *, now: datetime | None = None) -> CustomerLink:
    """The live link a `state` was made for. A forged, altered or older than
    WECHAT_STATE_SECONDS state, or one whose link was replaced or expired since: NotFoundError."""
    now = now or timezone.now()
    invalid = NotFoundError(
        _("This request has expired or is not valid. Please start again from your page.")
    )
    parts = str(state or "").split("x")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise invalid
    link_id, issued = int(parts[0]), int(parts[1])
    link = CustomerLink.objects.filter(pk=link_id).only("nonce").first()
    if link is None or not constant_time_compare(
        parts[2], _state_signature(link_id, issued, link.nonce)
    ):
        raise invalid
    if not 0 <= now.timestamp() - issued <= WECHAT_STATE_SECONDS:
        raise invalid
    try:
        return _live_link(link_id, now=now)
    except NotFoundError:
        raise invalid from None


def wechat_authorize_url(*, link: CustomerLink) -> str:
    """WeChat's authorization page for this link's customer; it comes back to the portal's
    WeChat callback with a code and the state of this link."""
    if not wechat_offered(link=link):
        raise ConflictError(_("WeChat updates are not available for this page."))
    base = settings.DMS_PUBLIC_BASE_URL.rstrip("/")
    return messaging_services.wechat_authorize_url(
        site=link.site,
        redirect_uri=base + reverse("portal:wechat_callback"),
        state=wechat_state(link),
    )


def wechat_consent_ask(*, link: CustomerLink, code: str) -> str:
    """WeChat came back with a code for the link of a checked state: exchange it for the
    customer's openid and return the signed ticket the consent page posts (nothing is
    recorded until the customer agrees)."""
    openid = messaging_services.wechat_openid_for_code(site=link.site, code=code)
    return signing.dumps({"link": link.pk, "openid": openid}, salt="portal.wechat-consent")


def wechat_consent_read(ticket: str, *, now: datetime | None = None) -> tuple[CustomerLink, str]:
    """The link and openid of a consent page's answer (signed, at most WECHAT_CONSENT_SECONDS
    old, its link still live)."""
    invalid = NotFoundError(
        _("This request has expired or is not valid. Please start again from your page.")
    )
    try:
        data = signing.loads(
            str(ticket or ""), salt="portal.wechat-consent", max_age=WECHAT_CONSENT_SECONDS
        )
        link = _live_link(data["link"], now=now or timezone.now())
        openid = str(data["openid"])
    except (signing.BadSignature, KeyError, TypeError, NotFoundError):
        raise invalid from None
    return link, openid


def wechat_link(*, link: CustomerLink, openid: str) -> WeChatLink:
    """The customer agreed: link their WeChat with their consent, recorded on the RO or the
    appointment with the link it came through."""
    customer = link_customer(link)
    if customer is None:
        raise NotFoundError(_("This link is not valid."))
    with transaction.atomic():
        row = messaging_services.wechat_link_record(customer=customer, openid=openid, consent=True)
        subject = link.repair_order if link.purpose == P.STATUS else link.appointment
        _record(subject, action="wechat_linked_online", link=link, customer=customer.pk)
    return row


CODES_KEPT = timedelta(days=2)  # longer than the longest rate-limit window


def codes_purge(*, now: datetime | None = None) -> int:
    """Delete one-time codes older than the rate limits look back (their hashes serve nothing
    after that; the audit trail keeps what happened)."""
    now = now or timezone.now()
    deleted, _by_model = OneTimeCode.objects.filter(created_at__lt=now - CODES_KEPT).delete()
    return deleted
