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
