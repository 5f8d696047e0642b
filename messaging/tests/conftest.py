from datetime import time

import pytest

from tests.conftest import _free_port


@pytest.fixture
def smtp_server():
    from .servers.smtp import SmtpServer

    with SmtpServer(_free_port()) as server:
        yield server


@pytest.fixture
def site(db):
    from dms.tests.factories import SiteFactory

    # calls and messages allowed around the clock: the worker's real clock is always inside
    return SiteFactory(
        phone="021-5555 0000", calling_hours_start=time(0, 0), calling_hours_end=time(23, 59, 59)
    )


@pytest.fixture
def customer(site):
    from customers.tests.factories import CustomerFactory

    return CustomerFactory(site=site, email="wang@example.com", phone="+8613800001111")


REMINDER_TEXT = "${customer_name}，您的爱车${plate}预约在${start}保养。回复1确认，2改期，3取消。"


@pytest.fixture
def aliyun(settings):
    """A local Alibaba Cloud SMS and the settings that point the site's account at it."""
    from .servers.aliyun import AliyunSmsServer

    with AliyunSmsServer(templates={"SMS_100001": REMINDER_TEXT}) as server:
        settings.DMS_MESSAGING_ACCOUNTS = {
            **(settings.DMS_MESSAGING_ACCOUNTS or {}),
            "aliyun-main": server.account,
        }
        yield server


@pytest.fixture
def aliyun_site(site, aliyun):
    """The site sends SMS through Alibaba Cloud, with its approved reminder template."""
    from messaging.models import MessageTemplate, SiteChannel

    SiteChannel.objects.create(
        site=site, channel="sms", provider="aliyun", account="aliyun-main", sign_name="某某汽车"
    )
    MessageTemplate.objects.create(
        site=site,
        kind="reminder_day_before",
        channel="sms",
        language="zh-hans",
        body="{customer_name}，您的爱车{plate}预约在{start}保养。回复1确认，2改期，3取消。",
        provider_template="SMS_100001",
    )
    return site


def callback_url(live_server, kind: str, token: str = "cb-token-test") -> str:
    from django.urls import reverse

    name = "messaging:status_callback" if kind == "status" else "messaging:inbound"
    path = reverse(name, kwargs={"provider": "aliyun", "account": "aliyun-main", "token": token})
    return live_server.url + path
