"""Query-count guard of the provider callbacks: a receipt and a reply cost the same number of SQL
queries however many messages the site has sent (no scan or N+1 over the outbox)."""

import json
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from messaging import services
from messaging.models import InboundMessage, MessageStatus, OutboundMessage

pytestmark = pytest.mark.django_db

MANY = 8


def _send(site, customer, n: int):
    message = services.message_send(
        site=site,
        kind="reminder_day_before",
        context={"start": "12月6日 09:00", "plate": "沪A12345"},
        customer=customer,
        channel="sms",
        language="zh-hans",
        source_key=f"appointment:{n}:x",
    )
    assert services.message_deliver(message_id=message.pk) == "sent"


def _receipt(sent: dict) -> dict:
    return {
        "phone_number": sent["phone"],
        "send_time": sent["send_date"],
        "report_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": sent["biz_id"],
        "out_id": sent["out_id"],
    }


def _post(client, kind: str, body) -> int:
    name = "messaging:status_callback" if kind == "status" else "messaging:inbound"
    url = reverse(
        name, kwargs={"provider": "aliyun", "account": "aliyun-main", "token": "cb-token-test"}
    )
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def _reply(phone: str, text: str, sequence: int) -> list[dict]:
    return [
        {
            "phone_number": phone,
            "send_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "content": text,
            "sign_name": "某某汽车",
            "dest_code": "1234",
            "sequence_id": sequence,
        }
    ]


def test_a_receipt_and_a_reply_run_as_many_queries_with_many_more_messages(
    client, aliyun_site, aliyun, customer
):
    _send(aliyun_site, customer, 0)
    one_receipt = _post(client, "status", [_receipt(aliyun.sent[0])])
    one_reply = _post(client, "inbound", _reply("13800001111", "好的", 1))
    for n in range(1, MANY + 1):
        other = CustomerFactory(site=aliyun_site, phone=f"+861390000{n:04d}")
        _send(aliyun_site, other, n)
    _send(aliyun_site, customer, MANY + 1)
    assert _post(client, "status", [_receipt(aliyun.sent[-1])]) <= one_receipt
    assert _post(client, "inbound", _reply("13800001111", "好的", 2)) <= one_reply
    # both pushes were read and acted on, not refused early
    assert OutboundMessage.objects.filter(status=MessageStatus.DELIVERED).count() == 2
    assert InboundMessage.objects.count() == 2
