"""One rule of when a customer may be contacted, and every caller agrees with it.

Appointment reminders, proactive care and the outreach workers used to answer "may we call
this customer now?" three ways: reminders ignored the days the site is shut, care skipped closed
dates but not the weekdays without opening hours (and held SMS back on closed dates, which the
workers send), and the workers moved whatever did not fit. So a Sunday reminder call was
scheduled only to expire unreached, and a care call due on a Sunday waited on the desk for
Monday. Now all three ask outreach.contact, so the moment a scheduler picks is exactly the
moment the workers would contact the customer."""

from datetime import date, datetime, time, timedelta

import pytest

from appointments.services import reminder_window
from care.services import contact_channel, contact_window
from customers.models import Channel
from customers.tests.factories import CustomerFactory
from dms.models import ClosedDate
from outreach import contact
from outreach.models import CallTask, TaskKind, TaskStatus
from outreach.services import next_contact_time

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 6, 15)  # the site is open Monday–Saturday, shut on Sunday
CLOSED = MONDAY + timedelta(days=2)  # a closed date (Wednesday)
SUNDAY = MONDAY + timedelta(days=6)

QUIET = {
    "none": (None, None),
    "overnight": (time(21), time(8)),
    "morning": (time(8), time(10, 30)),
    "lunch": (time(12), time(14)),
    "all_day": (time(8), time(21)),
}


def midnight(site, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=site.tzinfo)


@pytest.fixture
def closed_site(site):
    ClosedDate.objects.create(site=site, date=CLOSED, reason="stocktaking")
    return site


@pytest.mark.parametrize("quiet", sorted(QUIET))
@pytest.mark.parametrize("channel", [Channel.CALL, Channel.SMS])
@pytest.mark.parametrize("day", [MONDAY, CLOSED, SUNDAY], ids=["open", "closed_date", "sunday"])
def test_reminders_care_and_the_workers_pick_the_same_moment(closed_site, day, channel, quiet):
    # given a customer with quiet hours, and a day the site is open, closed, or shut by weekday
    site = closed_site
    start, end = QUIET[quiet]
    customer = CustomerFactory(
        site=site, consent_sms=True, quiet_hours_start=start, quiet_hours_end=end
    )
    # when each caller asks for the first moment from the start of that day
    workers = contact.next_contact_time(
        site=site, customer=customer, channel=channel, at=midnight(site, day)
    )
    reminder = reminder_window(
        site=site,
        customer=customer,
        earliest=midnight(site, day),
        latest=midnight(site, day + timedelta(days=31)),
        channel=channel,
    )
    care_due, _until = contact_window(
        site=site, customer=customer, day=day, window_days=7, channel=channel
    )
    # then they agree: the moment the workers would make the contact
    if quiet == "all_day":
        # nothing fits; care leaves it to the desk
        assert workers is None
        assert reminder is None
        return
    assert reminder[0] == workers
    assert care_due == workers
    # and it is allowed: calling hours, outside quiet hours, calls only on open days
    local = workers.astimezone(site.tzinfo)
    assert site.calling_hours_start <= local.time() < site.calling_hours_end
    assert not contact.in_quiet_hours(customer, local.time())
    if channel == Channel.CALL:
        assert local.date() not in (CLOSED, SUNDAY)
    else:
        assert local.date() == day  # messages go out on any day


def test_a_sunday_reminder_call_is_not_scheduled_only_to_expire(site):
    # given an appointment on Monday: the day-before reminder call would fall on Sunday
    customer = CustomerFactory(site=site)
    sunday = MONDAY - timedelta(days=1)
    earliest = datetime.combine(sunday, time(10), tzinfo=site.tzinfo)
    latest = datetime.combine(sunday, site.calling_hours_end, tzinfo=site.tzinfo)
    # then there is no window for a call on Sunday (before: 10:00–20:00 Sunday, which the
    # workers then moved past the window's end, so the task expired unreachable)
    assert reminder_window(site=site, customer=customer, earliest=earliest, latest=latest) is None
    # and an SMS reminder still goes on Sunday
    assert reminder_window(
        site=site, customer=customer, earliest=earliest, latest=latest, channel=Channel.SMS
    ) == (earliest, latest)


def test_a_scheduled_task_is_dispatched_at_its_due_time_not_moved(closed_site):
    # given a care call scheduled by the one rule on a closed date with lunch-time quiet hours
    site = closed_site
    customer = CustomerFactory(site=site, quiet_hours_start=time(8), quiet_hours_end=time(11))
    due_at, due_until = contact_window(site=site, customer=customer, day=CLOSED, window_days=7)
    task = CallTask.objects.create(
        site=site,
        kind=TaskKind.MAINTENANCE_DUE,
        source_key="contact-rule",
        customer=customer,
        due_at=due_at,
        due_until=due_until,
        status=TaskStatus.SCHEDULED,
    )
    # then the workers accept it at exactly its due time: Thursday 11:00
    assert next_contact_time(task=task, at=due_at) == due_at
    assert due_at == datetime.combine(CLOSED + timedelta(days=1), time(11), tzinfo=site.tzinfo)


def test_consent_is_one_rule_for_every_caller(site):
    # given a customer who accepts calls but has no phone number, and SMS
    customer = CustomerFactory(site=site, consent_call=True, consent_sms=True)
    customer.phone = ""
    customer.phone2 = ""
    customer.email = "x@example.com"
    customer.consent_email = True
    # then nobody calls or texts them; e-mail is the channel every caller picks
    assert not contact.channel_allowed(customer, Channel.CALL)
    assert not contact.channel_allowed(customer, Channel.SMS)
    assert contact.first_channel(customer, (Channel.CALL, Channel.SMS, Channel.EMAIL)) == (
        Channel.EMAIL
    )

    class Rule:
        channel = Channel.CALL
        is_marketing = False

    assert contact_channel(customer=customer, rule=Rule) == Channel.EMAIL
    # and a marketing contact needs marketing consent on top
    customer.consent_marketing = False
    assert not contact.channel_allowed(customer, Channel.EMAIL, marketing=True)
