from messaging.tests.conftest import aliyun, aliyun_site, customer, site  # noqa: F401
