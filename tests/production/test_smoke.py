"""The production smoke test: the processes of docker-compose.yml, started natively as the
containers would run them (Docker cannot run on the CI machines).

collectstatic under the production settings; `check --deploy` clean; the one-shot migrate; gunicorn
(threaded, with the psycopg pool) behind Caddy on TLS with a certificate the test makes; a Celery
worker per queue and one beat, on real PostgreSQL (a database of the test's own) and Redis (a
server of the test's own, so its queues meet no other run). Through the proxy: the health
endpoint is healthy, plain http goes to https, /metrics is not served; a booking made through
the API over https schedules a reminder that the outreach worker sends."""

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from .conftest import IN_CI_ENV, PRODUCTION_ENV, clean_environ, manage, run_script
from .servers import free_port, port_open, stop_process, wait_for
from .stack import APP_SERVICES, PROXY, ROOT, native

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

PREPARE_SITE = """
from datetime import UTC, datetime, time
from django.core.management import call_command
from dms.models import ClosedDate, OpeningHours, Site

call_command("load_demo", verbosity=0)
# The operator's site settings, chosen so that now is late morning at the site whatever the
# hour the test runs: a reminder for a slot this afternoon is due at once and inside the
# calling hours.
offset = 11 - datetime.now(UTC).hour
offset = offset + 24 if offset < -12 else offset - 24 if offset > 14 else offset
site = Site.objects.get(code="demo")
site.time_zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"
site.calling_hours_start, site.calling_hours_end = time(6), time(22)
site.save()
for weekday in range(7):
    OpeningHours.objects.update_or_create(
        site=site, weekday=weekday, defaults={"opens": time(7), "closes": time(20)}
    )
ClosedDate.objects.filter(site=site).delete()
result = {"time_zone": site.time_zone}
"""


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Stack:
    """The started processes, their logs, and how to stop them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.folder / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"stopped: {dead}\n" + "\n".join(
            f"--- {n}\n{self.log(n)[-3000:]}" for n in dead
        )

    def tails(self) -> str:
        return "\n".join(f"--- {n}\n{self.log(n)[-2500:]}" for n in self.procs)

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_process(proc)


@pytest.fixture
def smoke_database():
    """A database of the test's own on the machine's PostgreSQL, dropped afterwards."""
    import psycopg
    from django.conf import settings

    name = f"dms_smoke_{settings.RUN_ID}"
    admin = f"postgres://postgres@{settings.PG_HOST}:{settings.PG_PORT}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://postgres@{settings.PG_HOST}:{settings.PG_PORT}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_production_stack_serves_over_tls_and_sends_a_booked_reminder(
    tmp_path, collected_static, throwaway_redis, smoke_database
):
    if not shutil.which("caddy"):
        if IN_CI_ENV:
            pytest.fail("caddy is not installed: `make system-deps` installs it")
        pytest.skip("needs caddy (apt-get install caddy)")
    cert, key = _certificate(tmp_path)
    web_port, https_port, http_port = free_port(), free_port(), free_port()
    base = f"https://localhost:{https_port}"
    redis = throwaway_redis.url.rsplit("/", 1)[0]
    app_env = {
        **clean_environ(),
        "DJANGO_SETTINGS_MODULE": "dms.settings.production",
        "DJANGO_SECRET_KEY": PRODUCTION_ENV["DJANGO_SECRET_KEY"],
        "DATABASE_URL": smoke_database,
        "REDIS_URL": f"{redis}/0",
        "CACHE_URL": f"{redis}/1",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "ALLOWED_HOSTS": "localhost",
        "CSRF_TRUSTED_ORIGINS": base,
        "DMS_PUBLIC_BASE_URL": base,
        "STATIC_ROOT": str(collected_static),
        "METRICS_ENABLED": "true",
        "LOG_LEVEL": "INFO",
    }
    paths = {
        "/tmp/celerybeat-schedule": str(tmp_path / "celerybeat-schedule"),
        "/etc/caddy/Caddyfile": str(ROOT / "deploy" / "Caddyfile"),
    }
    service_env = {
        "web": {
            "DATABASE_POOL": "true",
            "TRUSTED_PROXY_COUNT": "1",
            "WEB_WORKERS": "2",
            "WEB_THREADS": "4",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
            "WEB_BIND": f"127.0.0.1:{web_port}",
        },
        "worker-outreach": {"CELERY_NODE": "outreach"},
        "worker-webhooks": {"CELERY_NODE": "webhooks"},
        "worker-live": {"CELERY_NODE": "live"},
        "worker-reporting": {"CELERY_NODE": "reporting"},
        "beat": {},
    }
    (tmp_path / "prometheus").mkdir()

    # the image's build step and the deploy checks
    check = manage("check", "--deploy", "--fail-level", "WARNING", env=app_env)
    assert check.returncode == 0, check.stdout + check.stderr[-3000:]
    assert "no issues" in check.stdout

    # the one-shot migrate service, then the operator's first setup
    migrate_argv = native(APP_SERVICES["migrate"][0], paths)
    migrated = subprocess.run(
        migrate_argv, cwd=ROOT, env=app_env, capture_output=True, text=True, timeout=900
    )
    assert migrated.returncode == 0, migrated.stderr[-4000:]
    site_zone = ZoneInfo(run_script(PREPARE_SITE, app_env)["time_zone"])

    stack = Stack(tmp_path)
    try:
        for name, extra in service_env.items():
            argv = native(APP_SERVICES[name][0], paths)
            stack.start(name, argv, {**app_env, **extra})
        stack.start(
            "proxy",
            native(PROXY[0], paths),
            {
                **clean_environ(),
                "DMS_SITE_ADDRESS": "localhost",
                "DMS_TLS": f"{cert} {key}",
                "DMS_WEB_HOST": "127.0.0.1",
                "DMS_WEB_PORT": str(web_port),
                "CADDY_HTTPS_PORT": str(https_port),
                "CADDY_HTTP_PORT": str(http_port),
                "XDG_DATA_HOME": str(tmp_path / "caddy-data"),
                "XDG_CONFIG_HOME": str(tmp_path / "caddy-config"),
            },
        )
        wait_for(
            lambda: stack.alive() or (port_open(web_port) and port_open(https_port)),
            timeout=180,
            what="gunicorn and caddy to listen",
        )
        https = requests.Session()
        https.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test's certificate
        https.verify = str(cert)

        def healthy():
            stack.alive()
            try:
                return https.get(f"{base}/health/", timeout=30).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_for(healthy, timeout=300, what="/health/ through the proxy", interval=2)
        except AssertionError:
            body = https.get(f"{base}/health/", timeout=30).text
            raise AssertionError(f"unhealthy: {body}\n{stack.tails()}") from None
        health = https.get(f"{base}/health/", timeout=30).json()
        assert set(health.values()) == {"OK"}
        assert any("Workers" in name for name in health)

        # plain http is sent to https by the proxy; gunicorn itself redirects a request that did
        # not come through TLS; the pages carry HSTS
        plain = requests.get(
            f"http://localhost:{http_port}/login/", allow_redirects=False, timeout=30
        )
        assert plain.status_code in (301, 308)
        assert plain.headers["Location"].startswith("https://localhost")
        direct = requests.get(
            f"http://127.0.0.1:{web_port}/login/",
            headers={"Host": "localhost"},
            allow_redirects=False,
            timeout=30,
        )
        assert direct.status_code == 301
        login = https.get(f"{base}/login/", timeout=30)
        assert login.status_code == 200
        assert "max-age=31536000" in login.headers["Strict-Transport-Security"]
        static = https.get(f"{base}/static/vendor/htmx.min.js", timeout=30)
        assert static.status_code == 200  # the hashed copy from the collected manifest
        # /metrics: not through the proxy; scraped from the web process directly
        assert https.get(f"{base}/metrics", timeout=30).status_code == 404
        metrics = requests.get(f"http://127.0.0.1:{web_port}/metrics", timeout=30).text
        for name in (
            "django_http_requests_latency_seconds_by_view_method",
            "django_db_execute_total",
            "django_cache_get_total",
            "dms_outreach_queue_depth",
            "dms_outreach_oldest_due_age_seconds",
            "dms_webhook_failures",
            'dms_celery_queue_length{queue="outreach"}',
        ):
            assert name in metrics, name

        # the dispatcher's wall screen signs in and polls the board (the first poll renders it)
        wall = requests.Session()
        wall.trust_env, wall.verify = False, str(cert)
        form = wall.get(f"{base}/login/", timeout=30).text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        signed_in = wall.post(
            f"{base}/login/",
            data={"username": "dispatcher", "password": "dms-demo", "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{base}/login/"},
            timeout=30,
        )
        assert signed_in.status_code == 200
        assert "/login/" not in signed_in.url, signed_in.url
        board_url = f"{base}/workshop/board/"
        first_board = wall.get(board_url, headers={"HX-Request": "true"}, timeout=30)
        assert first_board.status_code == 200
        assert 'id="board-live"' in first_board.text
        board_tag = first_board.headers["ETag"]

        # a booking through the API over https …
        def token(username):
            r = https.post(
                f"{base}/api/v1/auth/token/",
                json={"username": username, "password": "dms-demo"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            return {"Authorization": f"Token {r.json()['token']}"}

        advisor, manager = token("advisor"), token("manager")
        customer = https.post(
            f"{base}/api/v1/customers/",
            json={"name": "冒烟 测试", "phone": "13912340077", "preferred_channel": "sms"},
            headers=advisor,
            timeout=30,
        )
        assert customer.status_code == 201, customer.text
        vehicle = https.post(
            f"{base}/api/v1/vehicles/",
            json={
                "owner": customer.json()["id"],
                "vin": "LSVAU218XN2183294",
                "plate": "沪S00077",
                "make": "Volkswagen",
                "model": "Lavida",
                "mileage_km": 30000,
                "acknowledge_vin_warning": True,
            },
            headers=advisor,
            timeout=30,
        )
        assert vehicle.status_code == 201, vehicle.text
        now = datetime.now(UTC)
        day = https.get(
            f"{base}/api/v1/appointments/availability/",
            params={"date": datetime.now(site_zone).date().isoformat(), "hours": "1"},
            headers=advisor,
            timeout=30,
        ).json()
        # a slot 45–110 minutes ahead: its short reminder is due at once
        slots = [
            s
            for s in day["slots"]
            if timedelta(minutes=45)
            <= datetime.fromisoformat(s["start"]) - now
            <= timedelta(minutes=110)
        ]
        assert slots, day
        booked = https.post(
            f"{base}/api/v1/appointments/",
            json={
                "vehicle": vehicle.json()["id"],
                "start": slots[0]["start"],
                "estimated_hours": "1",
                "services": ["maintenance"],
                "channel": "phone",
            },
            headers=advisor,
            timeout=30,
        )
        assert booked.status_code == 201, booked.text
        booked_at = datetime.now(UTC)

        # … changes the site: the board is rendered again by the live worker, and the wall
        # screen's next polls get it (a poll never waits for the render: dms.live)
        def board_rendered():
            stack.alive()
            r = wall.get(
                board_url, headers={"HX-Request": "true", "If-None-Match": board_tag}, timeout=30
            )
            assert r.status_code in (200, 304), r.status_code
            return r.status_code == 200 and r.headers["ETag"] != board_tag

        wait_for(board_rendered, timeout=120, what="the live worker's board", interval=1)
        rendered = "Task workshop.tasks.render_board["
        assert rendered in stack.log("worker-live")
        assert rendered not in stack.log("worker-reporting") + stack.log("worker-outreach")
        slot_start = datetime.fromisoformat(slots[0]["start"])

        # … schedules a reminder that beat's sweeper hands to the outreach worker, which sends it
        def reminder_sent():
            stack.alive()
            tasks = https.get(
                f"{base}/api/v1/call-tasks/",
                params={
                    "kind": "reminder_soon",
                    "all": "1",
                    # narrows the site's list to this booking's reminder: due from the booking,
                    # open until shortly before the slot
                    "due_before": (booked_at + timedelta(minutes=2)).isoformat(),
                    "due_after": (slot_start - timedelta(minutes=16)).isoformat(),
                },
                headers=manager,
                timeout=30,
            ).json()["results"]
            mine = [t for t in tasks if t["customer"] == customer.json()["id"]]
            seen[:] = mine
            return mine and mine[0]["status"] == "sent"

        seen: list = []

        try:
            wait_for(reminder_sent, timeout=300, what="the reminder to be sent", interval=3)
        except AssertionError:
            raise AssertionError(f"reminder: {seen}\n{stack.tails()}") from None
        # routed by name: the outreach worker ran the sweep and the dispatch, no other did
        ran = "Task followups.tasks.dispatch_batch["
        assert ran in stack.log("worker-outreach")
        assert ran not in stack.log("worker-reporting") + stack.log("worker-webhooks")
        assert "Sending due task outreach-sweep" in stack.log("beat")
    finally:
        stack.stop()
