"""The one rule of when and how a customer may be contacted.

Every caller asks here: appointment reminders (`appointments.services`), the follow-up call
(`followups.services`), proactive care (`care.services`) when they schedule a task, and the
outreach workers (`outreach.services`) when they act on it, so a task is never scheduled for a
moment the workers would refuse.

- Consent: the customer accepts the channel (and has the number or address it needs); marketing
  contacts (win-back) also need marketing consent.
- Calling hours: the site's `calling_hours_start`–`calling_hours_end`, every channel.
- Quiet hours: the customer's, which may run past midnight (21:00–08:00), every channel.
- Open days: a call is made only on a day the site is open (opening hours that weekday and no
  closed date): nobody is at the desk otherwise. Messages go out on any day.
- Frequency: how many tasks of some kinds a customer already has around a moment
  (`contacts_around`), for the caps of the rules that need them.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from customers.models import Channel
from dms.opening import site_calendar

from .models import CallTask

# How far ahead the next allowed moment is looked for.
HORIZON_DAYS = 60


def channel_allowed(customer, channel: str, *, marketing: bool = False) -> bool:
    """The customer accepts `channel` and has what it needs (a phone for calls and SMS, an
    e-mail address for e-mail); a marketing contact also needs marketing consent. `customer`
    may be any object with the customer's contact fields (the batch worker passes rows)."""
    if channel == Channel.CALL:
        allowed = customer.consent_call and bool(customer.phone or getattr(customer, "phone2", ""))
    elif channel == Channel.SMS:
        allowed = customer.consent_sms and bool(customer.phone)
    elif channel == Channel.EMAIL:
        allowed = customer.consent_email and bool(customer.email)
    else:
        allowed = False
    return bool(allowed and (customer.consent_marketing or not marketing))


def first_channel(customer, channels: Iterable[str], *, marketing: bool = False) -> str | None:
    """The first of `channels` the customer accepts, or None."""
    return next(
        (c for c in channels if c and channel_allowed(customer, c, marketing=marketing)), None
    )


def in_quiet_hours(customer, clock: time) -> bool:
    """`clock` (the site's local time) falls in the customer's quiet hours."""
    start, end = customer.quiet_hours_start, customer.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # wraps past midnight, e.g. 21:00–08:00


def open_days(site, first: date, last: date, *, closed: Iterable[date] | None = None) -> list[date]:
    """Days in [first, last] the site is open: opening hours that weekday and no closed date.
    `closed` may pass the site's closed dates already read (else they are read here)."""
    return list(site_calendar(site, first, last, closed=closed))


def local_at(site, day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=site.tzinfo)


def intervals_on(site, customer, day: date) -> list[tuple[datetime, datetime]]:
    """The stretches of `day` inside the site's calling hours and outside the customer's
    quiet hours (open days are the caller's business: see `windows`)."""
    intervals = [
        (local_at(site, day, site.calling_hours_start), local_at(site, day, site.calling_hours_end))
    ]
    qs, qe = customer.quiet_hours_start, customer.quiet_hours_end
    if qs is None or qe is None or qs == qe:
        return intervals
    if qs < qe:
        quiet = [(local_at(site, day, qs), local_at(site, day, qe))]
    else:  # e.g. 21:00–08:00
        quiet = [
            (local_at(site, day, time.min), local_at(site, day, qe)),
            (local_at(site, day, qs), local_at(site, day + timedelta(days=1), time.min)),
        ]
    for q_start, q_end in quiet:
        cut = []
        for a, b in intervals:
            if q_end <= a or q_start >= b:
                cut.append((a, b))
                continue
            if a < q_start:
                cut.append((a, q_start))
            if q_end < b:
                cut.append((q_end, b))
        intervals = cut
    return intervals


def windows(
    *,
    site,
    customer,
    channel: str,
    earliest: datetime,
    latest: datetime,
    closed: Iterable[date] | None = None,
):
    """The stretches within [earliest, latest] when `channel` may reach the customer, in order
    (consent is not checked here: see `channel_allowed`)."""
    tz = site.tzinfo
    first = timezone.localtime(earliest, tz).date()
    last = timezone.localtime(latest, tz).date()
    days = (
        open_days(site, first, last, closed=closed)
        if channel == Channel.CALL
        else [first + timedelta(days=i) for i in range((last - first).days + 1)]
    )
    for day in days:
        for a, b in intervals_on(site, customer, day):
            start, end = max(a, earliest), min(b, latest)
            if start < end:
                yield start, end


def first_window(
    *,
    site,
    customer,
    channel: str,
    earliest: datetime,
    latest: datetime,
    closed: Iterable[date] | None = None,
) -> tuple[datetime, datetime] | None:
    """The first stretch within [earliest, latest] when `channel` may reach the customer, or
    None when there is none."""
    return next(
        windows(
            site=site,
            customer=customer,
            channel=channel,
            earliest=earliest,
            latest=latest,
            closed=closed,
        ),
        None,
    )


def next_contact_time(
    *, site, customer, channel: str, at: datetime, marketing: bool = False
) -> datetime | None:
    """The first moment at or after `at` when `channel` may reach the customer (within
    HORIZON_DAYS); None when the customer does not accept the channel, or no moment is left."""
    if not channel_allowed(customer, channel, marketing=marketing):
        return None
    window = first_window(
        site=site,
        customer=customer,
        channel=channel,
        earliest=at,
        latest=at + timedelta(days=HORIZON_DAYS),
    )
    return window[0] if window else None


def next_call_start(*, site, at: datetime) -> datetime:
    """The next moment inside calling hours on an open day, whoever the customer (for calls
    the system schedules for the desk: a failed message's call, a complaint's confirming call)."""
    local = timezone.localtime(at, site.tzinfo)
    for day in open_days(site, local.date(), local.date() + timedelta(days=31)):
        start = local_at(site, day, site.calling_hours_start)
        end = local_at(site, day, site.calling_hours_end)
        if local < end:
            return max(start, local)
    return at


def contacts_around(
    customer, *, kinds: Iterable[str], at: datetime, days: int, exclude_statuses: Iterable[str]
) -> int:
    """How many of the customer's tasks of `kinds` fall due within `days` either side of `at`
    (not counting tasks in `exclude_statuses`): the measure of every frequency cap."""
    return (
        CallTask.objects.filter(
            Q(due_at__gte=at - timedelta(days=days)) & Q(due_at__lte=at + timedelta(days=days)),
            customer=customer,
            kind__in=list(kinds),
        )
        .exclude(status__in=list(exclude_statuses))
        .count()
    )
