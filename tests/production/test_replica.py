"""The KPI dashboard, its exports and the KPI API read from a real streaming replica when
DATABASE_REPLICA_URL is set; logins, sessions and every other page use the primary. The test
starts its own primary cluster and a pg_basebackup -R standby that logs every statement."""

import pytest

from .conftest import PRODUCTION_ENV, manage, run_script
from .servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WALK = """
from django.test import Client
from dms.demo import DEMO_PASSWORD

def mark(label):
    # a statement the standby logs, so the test can cut its log into steps
    from django.db import connections
    with connections["replica"].cursor() as cursor:
        cursor.execute(f"SELECT 'step:{label}'")

client = Client(HTTP_HOST="dms.example.com")
assert client.login(username="manager", password=DEMO_PASSWORD)
status = {}
mark("dashboard")
status["dashboard"] = client.get(secure=True, path="/dashboard/").status_code
response = client.get(secure=True, path="/dashboard/export.csv")
body = b"".join(response.streaming_content)
status["export"] = response.status_code
status["export_rows"] = body.count(b"\\n")
status["api"] = client.get(secure=True, path="/api/v1/kpis/").status_code
mark("front-desk")
status["front_desk"] = client.get(secure=True, path="/ro/").status_code
status["customers"] = client.get(secure=True, path="/customers/").status_code
mark("end")
result = status
"""


def test_kpi_pages_read_the_replica_and_everything_else_the_primary(
    pg_cluster, throwaway_redis, collected_static
):
    start, _clusters = pg_cluster
    primary = start()
    standby = primary.standby(log_statement="'all'", log_line_prefix="'%m '")
    primary.psql("CREATE DATABASE dms")
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": primary.url("dms"),
        "REDIS_URL": throwaway_redis.url,
        "LOG_LEVEL": "WARNING",
        "STATIC_ROOT": str(collected_static),
    }
    for command in (("migrate", "--noinput", "-v", "0"), ("load_demo", "-v", "0")):
        result = manage(*command, env=env)
        assert result.returncode == 0, result.stderr[-4000:]
    wait_for(lambda: standby.replayed(primary), timeout=120, what="the standby to replay")

    status = run_script(WALK, {**env, "DATABASE_REPLICA_URL": standby.url("dms")})

    assert status["dashboard"] == 200
    assert status["export"] == 200
    assert status["export_rows"] > 5
    assert status["api"] == 200
    assert status["front_desk"] == 200
    assert status["customers"] == 200
    log = standby.logfile.read_text()
    kpi_part = log.split("step:dashboard", 1)[1].split("step:front-desk", 1)[0]
    rest = log.split("step:front-desk", 1)[1].split("step:end", 1)[0]
    # the dashboard, the export and the API read their rows on the replica
    assert '"workorders_repairorder"' in kpi_part
    assert '"customers_vehicle"' in kpi_part
    # the login, the session and the role checks never did
    assert '"django_session"' not in log
    assert '"auth_user"' not in log
    # the other pages read nothing there
    assert "FROM" not in rest
