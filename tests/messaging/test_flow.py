"""The reminder's whole journey through the messaging layer, with the real SDK against a local
Alibaba Cloud SMS: booked → reminder due → SMS sent → receipt → the customer's reply acts on
the appointment; a failed SMS becomes a call for an agent."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from appointments.models import AppointmentStatus, appointment_of
from customers.tests.factories import VehicleFactory
from messaging.models import InboundMessage, MessageStatus, OutboundMessage
from messaging.services import message_deliver
from messaging.tests.conftest import callback_url
from outreach import services as outreach
from outreach.models import CallTask, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def booked(aliyun_site, customer, make_user, settings):
    """The customer prefers SMS; an appointment in a few days; the day-before reminder is due."""
    from appointments.services import appointment_book

    settings.DMS_SMS_BACKEND = "outreach.backends.MessagingBackend"
    customer.preferred_channel = "sms"
    customer.save()
    vehicle = VehicleFactory(owner=customer, plate="沪A12345")
    advisor = make_user("advisor")
    make_user("followup_agent")
    day = timezone.localdate(timezone.now(), aliyun_site.tzinfo) + timedelta(days=3)
    while day.weekday() == 6:
        day += timedelta(days=1)
    appointment = appointment_book(
        site=aliyun_site,
        customer=customer,
        vehicle=vehicle,
        start=datetime.combine(day, time(10, 0), tzinfo=aliyun_site.tzinfo),
        actor=advisor,
        estimated_hours="1.0",
    )
    reminder = CallTask.objects.get(appointment=appointment, kind=TaskKind.REMINDER_DAY_BEFORE)
    assert reminder.channel == "sms"
    now = timezone.now()
    CallTask.objects.filter(pk=reminder.pk).update(
        status=TaskStatus.QUEUED,
        due_at=now - timedelta(minutes=1),
        due_until=now + timedelta(hours=6),
    )
    return appointment, reminder


def _dispatch_and_send(reminder) -> OutboundMessage:
    assert outreach.task_dispatch(task_id=reminder.pk) == "sent"
    message = OutboundMessage.objects.get(source_key=f"task:{reminder.pk}")
    assert message_deliver(message_id=message.pk) == "sent"
    return message


def test_reminder_is_sent_and_delivered(booked, aliyun, live_server):
    _appointment, reminder = booked
    message = _dispatch_and_send(reminder)
    assert message.kind == "reminder_day_before"
    assert len(aliyun.sent) == 1
    assert "沪A12345" in aliyun.sent[0]["content"]
    assert aliyun.push_receipts(callback_url(live_server, "status")).status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_reply_2_moves_the_appointment_to_rescheduling(booked, aliyun, live_server, customer):
    # given the reminder reached the customer
    appointment, reminder = booked
    _dispatch_and_send(reminder)
    # when they reply "2"
    response = aliyun.push_reply(callback_url(live_server, "inbound"), "13800001111", "2")
    assert response.status_code == 200
    # then the appointment waits for a new time, the reminder's outcome is "reschedule" as if
    # an agent had called, and an agent has a call to agree the new time
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULING
    reminder.refresh_from_db()
    assert (reminder.status, reminder.outcome) == (TaskStatus.DONE, "reschedule")
    call = CallTask.objects.get(appointment=appointment, source_key__endswith=":reply")
    assert call.channel == "call"
    assert call.status == TaskStatus.SCHEDULED
    assert InboundMessage.objects.get().handled == "reminder_outcome"


def test_reply_1_confirms_and_free_text_waits_on_the_queue(booked, aliyun, live_server):
    appointment, reminder = booked
    _dispatch_and_send(reminder)
    aliyun.push_reply(callback_url(live_server, "inbound"), "13800001111", "1")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    aliyun.push_reply(callback_url(live_server, "inbound"), "13800001111", "能不能晚一点？")
    free = InboundMessage.objects.get(text="能不能晚一点？")
    assert free.handled == ""  # on the staff's queue
    assert free.read_at is None


def test_failed_sms_becomes_a_call_for_an_agent(booked, aliyun, live_server):
    # given the customer's number cannot receive messages (no e-mail on file)
    appointment, reminder = booked
    aliyun.undeliverable.add("13800001111")
    message = _dispatch_and_send(reminder)
    # when the provider reports the SMS undeliverable
    assert aliyun.push_receipts(callback_url(live_server, "status")).status_code == 200
    # then the message failed and an agent has a call task for the same reminder
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    call = CallTask.objects.get(source_key=f"{reminder.source_key}:call")
    assert (call.kind, call.channel, appointment_of(call).pk) == (
        TaskKind.REMINDER_DAY_BEFORE,
        "call",
        appointment.pk,
    )
    assert call.data["failed_message_id"] == message.pk


def test_failed_sms_goes_by_email_when_the_customer_allows_it(
    booked, aliyun, live_server, customer
):
    from messaging.models import SiteChannel

    appointment, reminder = booked
    SiteChannel.objects.create(site=appointment.site, channel="email", provider="smtp")
    customer.email = "wang@example.com"
    customer.save()
    aliyun.undeliverable.add("13800001111")
    _dispatch_and_send(reminder)
    aliyun.push_receipts(callback_url(live_server, "status"))
    fallback = OutboundMessage.objects.get(source_key=f"task:{reminder.pk}:email")
    assert fallback.channel == "email"
    assert fallback.to == "wang@example.com"
    assert not CallTask.objects.filter(source_key=f"{reminder.source_key}:call").exists()
