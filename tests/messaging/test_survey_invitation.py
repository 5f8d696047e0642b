"""The follow-up survey invitation, end to end through a real local SMTP server: written at
delivery, it waits while the customer drives the car, and reaches them when the 2–5-day
follow-up falls due, with the link to the online survey."""

import re

import pytest
from django.utils import timezone

from customers.tests.factories import VehicleFactory
from messaging.models import MessageStatus, OutboundMessage, SiteChannel
from messaging.services import message_deliver, messages_sweep
from outreach.models import CallTask, TaskKind
from workorders.models import ROStatus
from workorders.tests.factories import ro_in_state

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def emailed_customer(site, customer, smtp_server, settings):
    """A customer who prefers e-mail, at a site that e-mails through the local SMTP server."""
    settings.DMS_MESSAGING_ACCOUNTS = {"mail": smtp_server.account}
    SiteChannel.objects.create(
        site=site, channel="email", provider="smtp", account="mail", sender="service@4s.example"
    )
    customer.preferred_channel = "email"
    customer.save()
    return customer


def test_the_survey_invitation_arrives_when_the_follow_up_falls_due(
    emailed_customer, smtp_server, client
):
    # given a site that e-mails through an SMTP server and a customer who prefers e-mail
    customer = emailed_customer

    # when the car is delivered
    ro = ro_in_state(ROStatus.DELIVERED, vehicle=VehicleFactory(owner=customer, plate="沪B54321"))
    followup = CallTask.objects.get(kind=TaskKind.FOLLOWUP, repair_order=ro)
    invitation = OutboundMessage.objects.get(kind="followup_survey", customer=customer)

    # then nothing goes out on the day of delivery
    delivered_at = timezone.now()
    messages_sweep(now=delivered_at)
    assert message_deliver(message_id=invitation.pk, now=delivered_at) == "skipped"
    assert not [m for m in smtp_server.received if "/p/f/" in m["body"]]

    # and when the follow-up falls due the sweeper hands it out and the mail arrives
    due = followup.due_at
    assert (due - delivered_at).days >= 1
    messages_sweep(now=due)
    assert message_deliver(message_id=invitation.pk, now=due) == "sent"
    mails = [m for m in smtp_server.received if "/p/f/" in m["body"]]
    assert len(mails) == 1
    assert mails[0]["to"] == [customer.email]
    invitation.refresh_from_db()
    assert invitation.status == MessageStatus.SENT

    # with a link that opens the survey of this visit
    path = re.search(r"/p/f/[^/\s]+/", mails[0]["body"]).group(0)
    page = client.get(path)
    assert page.status_code == 200
    assert "沪B54321" in page.content.decode()


def test_no_survey_invitation_after_the_follow_up_is_cancelled(emailed_customer, smtp_server):
    """The invitation is written at delivery to go days later; if the visit's follow-up is
    called off meanwhile, the invitation is withdrawn when it falls due: nothing arrives."""
    from outreach.services import tasks_cancel

    customer = emailed_customer
    ro = ro_in_state(ROStatus.DELIVERED, vehicle=VehicleFactory(owner=customer, plate="沪B54322"))
    followup = CallTask.objects.get(kind=TaskKind.FOLLOWUP, repair_order=ro)
    invitation = OutboundMessage.objects.get(kind="followup_survey", customer=customer)

    # when the follow-up is cancelled before it falls due
    assert tasks_cancel(pk=followup.pk, note="The customer asked not to be called.") == 1

    # then at its due time the invitation is withdrawn, not sent
    due = followup.due_at
    messages_sweep(now=due)
    assert message_deliver(message_id=invitation.pk, now=due) == "failed"
    invitation.refresh_from_db()
    assert invitation.status == MessageStatus.FAILED
    assert invitation.error_code == "withdrawn"
    assert "cancelled" in invitation.error
    assert not [m for m in smtp_server.received if "/p/f/" in m["body"]]
