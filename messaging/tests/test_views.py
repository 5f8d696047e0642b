"""The manager's template pages and the replies queue."""

import pytest
from django.urls import reverse

from messaging.models import InboundMessage, MessageTemplate

pytestmark = pytest.mark.django_db


def _form(customer, **kw):
    data = {
        "kind": "car_ready",
        "channel": "sms",
        "language": "zh-hans",
        "subject": "",
        "body": "{customer_name}，您的爱车{plate}已可取车。",
        "provider_template": "",
        "customer": customer.pk,
    }
    data.update(kw)
    return data


def test_preview_fills_a_real_customers_record_and_saves(client, make_user, site, customer):
    from customers.tests.factories import VehicleFactory
    from workorders.tests.factories import RepairOrderFactory

    RepairOrderFactory(vehicle=VehicleFactory(owner=customer, plate="沪B77777"), site=site)
    client.force_login(make_user("manager"))
    url = reverse("messaging:template_new")
    page = client.post(url, {**_form(customer), "preview": "1"})
    assert page.status_code == 200
    assert f"{customer.name}，您的爱车沪B77777已可取车。" in page.content.decode()
    assert not MessageTemplate.objects.exists()  # a preview saves nothing
    client.post(url, {**_form(customer), "save": "1"})
    template = MessageTemplate.objects.get()
    assert (template.kind, template.language) == ("car_ready", "zh-hans")


def test_missing_value_is_a_clear_preview_error_not_a_crash(client, make_user, customer):
    client.force_login(make_user("manager"))
    page = client.post(
        reverse("messaging:template_new"),
        {
            **_form(customer, kind="delay_notice", body="{customer_name} {plate} {promised}"),
            "save": "1",
        },
    )
    assert page.status_code == 400
    assert "No value for: plate, promised." in page.content.decode()
    assert not MessageTemplate.objects.exists()


def test_unknown_placeholder_is_refused(client, make_user, customer):
    client.force_login(make_user("manager"))
    page = client.post(
        reverse("messaging:template_new"), {**_form(customer, body="{customer.phone}"), "save": "1"}
    )
    assert page.status_code == 400
    assert not MessageTemplate.objects.exists()


def test_templates_page_is_for_managers(client, make_user):
    client.force_login(make_user("advisor"))
    assert client.get(reverse("messaging:templates")).status_code == 403
    client.force_login(make_user("manager"))
    page = client.get(reverse("messaging:templates"))
    assert page.status_code == 200
    assert "Built-in texts" in page.content.decode()


def test_replies_queue_lists_unhandled_replies_until_read(client, make_user, site, customer):
    reply = InboundMessage.objects.create(
        site=site,
        customer=customer,
        channel="sms",
        provider="aliyun",
        sender=customer.phone,
        text="能晚点吗",
    )
    InboundMessage.objects.create(
        site=site,
        customer=customer,
        channel="sms",
        provider="aliyun",
        sender=customer.phone,
        text="1",
        handled="reminder_outcome",
    )
    client.force_login(make_user("followup_agent"))
    page = client.get(reverse("messaging:inbox")).content.decode()
    assert "能晚点吗" in page
    assert ">1<" not in page
    client.post(reverse("messaging:inbox_read", args=[reply.pk]))
    assert "能晚点吗" not in client.get(reverse("messaging:inbox")).content.decode()
