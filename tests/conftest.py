"""Fixtures for cross-app tests: a real headless Chromium (Playwright) against a live server."""

import os
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def login_page(browser, live_server):
    """`login_page(username, password, lang="en", viewport=None)` → a logged-in Playwright page
    in its own browser context (its own cookies), so each role has its own session."""
    contexts = []

    def _login(username: str, password: str = "pw-test-123", *, lang: str = "en", viewport=None):
        context = browser.new_context(
            locale="en-US" if lang == "en" else "zh-CN",
            viewport=viewport or {"width": 1366, "height": 900},
        )
        context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button.primary")
        page.wait_for_load_state("networkidle")
        return page

    yield _login
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot to docs/screenshots/<name>.png (used by the user guide)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- real Celery worker and throwaway Redis (reliability / fault tests) -------------------------
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    from tests.production.servers import free_port

    return free_port()


def _wait_for(check, *, timeout: float, what: str, interval: float = 0.1):
    """Poll `check()` until it returns something truthy (a deadline, not a timed assertion);
    `tests.production.servers.wait_for` with a shorter poll."""
    from tests.production.servers import wait_for

    return wait_for(check, timeout=timeout, what=what, interval=interval)


class RedisServer:
    """A redis-server of our own on a spare port, so fault tests can stop it freely."""

    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.workdir = workdir
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> "RedisServer":
        import subprocess

        self.proc = subprocess.Popen(
            [
                "/usr/bin/redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self._answers, timeout=20, what=f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path):
    """`redis_server.start()/stop()`: a throwaway Redis (never the shared one on 6379)."""
    if not os.path.exists("/usr/bin/redis-server"):
        pytest.skip("needs /usr/bin/redis-server")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


class WorkerProcess:
    """`python -m celery -A dms worker` on this run's queue and test database."""

    def __init__(self, env: dict, queue: str, concurrency: int, logfile: Path):
        self.env, self.queue, self.concurrency, self.logfile = env, queue, concurrency, logfile
        self.proc = None

    def start(self) -> "WorkerProcess":
        import subprocess
        import uuid

        self.logfile.write_text("")
        log = self.logfile.open("a")
        self.proc = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "python"),
                "-m",
                "celery",
                "-A",
                "dms",
                "worker",
                "-Q",
                self.queue,
                "-n",
                f"test-{uuid.uuid4().hex[:6]}@%h",
                "--pool",
                "prefork",
                "--concurrency",
                str(self.concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we can kill it and its pool
        )
        _wait_for(
            lambda: " ready." in self.logfile.read_text() or self.proc.poll() is not None,
            timeout=60,
            what="the Celery worker to be ready",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited:\n{self.logfile.read_text()[-3000:]}")
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes (no warm shutdown, no acks)."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.logfile.read_text()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """`celery_worker(concurrency=2, broker_port=None, env=None)` → a started WorkerProcess that
    sees the rows committed by this `transaction=True` test (same database, same run queue),
    with `env` added to its environment. Stopped at the end of the test."""
    from django.conf import settings
    from django.db import connection

    if not (settings.HAVE_POSTGRES and settings.HAVE_REDIS):
        pytest.skip("needs Postgres and Redis on 127.0.0.1")
    db = connection.settings_dict
    workers = []

    def _start(
        *, concurrency: int = 2, broker_port: int | None = None, env: dict | None = None
    ) -> WorkerProcess:
        env = {
            **os.environ,
            **(env or {}),
            "DJANGO_SETTINGS_MODULE": "dms.settings.test",
            "DMS_TEST_RUN_ID": settings.RUN_ID,
            "DMS_TEST_DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
            ),
        }
        if broker_port:
            env["DMS_TEST_REDIS_PORT"] = str(broker_port)
        worker = WorkerProcess(
            env,
            settings.CELERY_TASK_DEFAULT_QUEUE,
            concurrency,
            tmp_path / f"worker-{len(workers)}.log",
        )
        workers.append(worker)
        return worker.start()

    yield _start
    for worker in workers:
        worker.stop()


@pytest.fixture
def use_broker():
    """`with use_broker(url):` points this process's Celery app at another broker."""
    from contextlib import contextmanager

    from dms.celery import app

    def _reset():
        from kombu import pools

        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        # kombu keeps its producer pools per broker address in a registry of its own: without
        # this, a send after the switch back reuses the first broker's closed pool
        pools.reset()

    @contextmanager
    def _use(url: str):
        old = app.conf.broker_url
        app.conf.broker_url = url
        _reset()
        try:
            yield app
        finally:
            app.conf.broker_url = old
            _reset()

    return _use
