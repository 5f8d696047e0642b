from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from customers.tests.factories import VehicleFactory
from dms.models import Role
from dms.tests.factories import SiteFactory, make_staff
from workorders.models import ROStatus
from workorders.tests.factories import RepairOrderFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(y, m, d, hh=0, mm=0):
    """A site-local (Asia/Shanghai) moment."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def delivered_ro(*, site=None, at=None, **kwargs):
    site = site or SiteFactory()
    vehicle = kwargs.pop("vehicle", None) or VehicleFactory(owner__site=site)
    at = at or timezone.now()
    return RepairOrderFactory(
        site=site,
        vehicle=vehicle,
        status=ROStatus.DELIVERED,
        delivered_at=at,
        delivered_day=timezone.localtime(at, site.tzinfo).date(),
        **kwargs,
    )


def agent(site, username=None):
    return make_staff(role=Role.FOLLOWUP_AGENT, site=site, username=username)
