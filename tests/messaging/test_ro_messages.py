"""The advisor sends from the RO page: one click, the customer's preferred allowed channel,
the message and its delivery state on the RO."""

import pytest
from django.urls import reverse

from customers.tests.factories import VehicleFactory
from dms.models import AuditEntry
from messaging.models import MessageStatus, OutboundMessage, SiteChannel
from messaging.services import message_deliver
from workorders.models import JobLine, ROStatus
from workorders.tests.factories import JobLineFactory, RepairOrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ro(site, customer):
    vehicle = VehicleFactory(owner=customer, plate="沪A54321")
    return RepairOrderFactory(vehicle=vehicle, site=site, status=ROStatus.READY)


def _post(client, ro, kind):
    return client.post(
        reverse("workorders:action", args=[ro.pk, "send-message"]), {"kind": kind}, follow=True
    )


def test_ready_notice_goes_by_the_preferred_channel_once_and_shows_on_the_ro(
    client, ro, customer, smtp_server, settings
):
    # given the customer prefers e-mail and the site sends e-mail through its SMTP server
    settings.DMS_MESSAGING_ACCOUNTS = {"mail": smtp_server.account}
    SiteChannel.objects.create(site=ro.site, channel="email", provider="smtp", account="mail")
    SiteChannel.objects.create(site=ro.site, channel="sms", provider="recording")
    customer.preferred_channel = "email"
    customer.save()
    client.force_login(ro.advisor)
    # when the advisor clicks "Send the ready notice" twice
    page = _post(client, ro, "car_ready")
    second = _post(client, ro, "car_ready")
    # then one e-mail is queued, the RO's history says so, and the page lists it
    message = OutboundMessage.objects.get()
    assert (message.kind, message.channel, message.to) == ("car_ready", "email", customer.email)
    assert "沪A54321" in message.body
    assert AuditEntry.objects.filter(object_id=ro.pk, action="message_sent").count() == 1
    assert "already sent" in second.content.decode()
    assert "Messages to the customer" in page.content.decode()
    # when the worker sends it, the mail arrives and the RO shows it sent
    assert message_deliver(message_id=message.pk) == "sent"
    assert smtp_server.received[0]["to"] == [customer.email]
    page = client.get(reverse("workorders:detail", args=[ro.pk])).content.decode()
    assert str(MessageStatus.SENT.label) in page
    # and when the provider reports it delivered, the RO's history says so
    from messaging.backends import StatusReport
    from messaging.services import status_report_apply

    status_report_apply(
        provider="smtp", report=StatusReport(key=str(message.key), status="delivered")
    )
    entry = AuditEntry.objects.get(object_id=ro.pk, action="message_delivered")
    assert customer.email in entry.note
    assert (
        "Message delivered"
        in client.get(reverse("workorders:detail", args=[ro.pk])).content.decode()
    )


def test_approval_link_message_sends_the_customer_to_the_status_page(client, ro, customer):
    import re

    ro.status = ROStatus.IN_PROGRESS
    ro.save()
    line = JobLineFactory(repair_order=ro, approval=JobLine.Approval.PROPOSED)
    client.force_login(ro.advisor)
    _post(client, ro, "additional_work")
    message = OutboundMessage.objects.get()  # one message: the status link rides in it
    assert message.channel == "sms"
    path = re.search(r"https?://\S+?(/p/s/[^/\s]+/)", message.body).group(1)
    client.logout()
    page = client.get(path)
    assert page.status_code == 200
    assert line.description in page.content.decode()


def test_ready_notice_before_the_car_is_ready_is_refused(client, ro):
    ro.status = ROStatus.IN_PROGRESS
    ro.save()
    client.force_login(ro.advisor)
    page = _post(client, ro, "car_ready")
    assert not OutboundMessage.objects.exists()
    assert page.status_code in (200, 409)


def test_only_advisors_send(client, ro, make_user):
    tech = make_user("technician", at_site=ro.site)
    client.force_login(tech)
    _post(client, ro, "car_ready")
    assert not OutboundMessage.objects.exists()
