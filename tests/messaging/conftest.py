from messaging.tests.conftest import (  # noqa: F401
    aliyun,
    aliyun_site,
    customer,
    site,
    smtp_server,
)
