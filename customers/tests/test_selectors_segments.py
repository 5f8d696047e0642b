from datetime import date, datetime

import pytest

from customers.selectors import retention_bucket
from customers.service_due import add_months
from dms.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

LAST = date(2026, 1, 15)


@pytest.mark.parametrize(
    ("today", "bucket"),
    [
        (date(2026, 1, 15), "active"),
        (date(2026, 4, 14), "active"),  # one day short of 3 months
        (date(2026, 4, 15), "at_risk"),  # exactly 3 months
        (date(2026, 7, 14), "at_risk"),
        (date(2026, 7, 15), "nearly_lost"),  # exactly 6 months
        (date(2026, 10, 14), "nearly_lost"),
        (date(2026, 10, 15), "lost"),  # exactly 9 months
        (date(2027, 6, 1), "lost"),
    ],
)
def test_3_6_9_boundaries(today, bucket):
    site = SiteFactory()
    assert retention_bucket(site=site, last_delivery_at=LAST, today=today) == bucket


def test_no_delivery_is_new():
    assert retention_bucket(site=SiteFactory(), last_delivery_at=None, today=LAST) == "new"


def test_thresholds_come_from_the_site():
    site = SiteFactory(
        retention_at_risk_months=2, retention_nearly_lost_months=4, retention_lost_months=12
    )
    assert retention_bucket(site=site, last_delivery_at=LAST, today=date(2026, 3, 15)) == "at_risk"
    assert (
        retention_bucket(site=site, last_delivery_at=LAST, today=date(2026, 10, 15))
        == "nearly_lost"
    )


def test_delivery_time_counts_in_the_site_time_zone():
    site = SiteFactory()  # Asia/Shanghai
    from zoneinfo import ZoneInfo

    # 2026-01-14 20:00 UTC is already 15 January in Shanghai
    late = datetime(2026, 1, 14, 20, 0, tzinfo=ZoneInfo("UTC"))
    assert retention_bucket(site=site, last_delivery_at=late, today=date(2026, 4, 15)) == "at_risk"


def test_month_end_clamps():
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
