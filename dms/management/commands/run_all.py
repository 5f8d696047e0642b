"""Runs the web server, a Celery worker and Celery beat together; Ctrl-C stops all three."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from dms.demo import DEMO_PASSWORD, DEMO_STAFF


class Command(BaseCommand):
    help = "Start the web app with a Celery worker and Celery beat (development)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("DMS_ADDR", "127.0.0.1:8000"))

    def handle(self, *args, addr: str, **options):
        py = sys.executable
        procs = {
            "web": [py, "manage.py", "runserver", addr, "--noreload"],
            "worker": [
                py,
                "-m",
                "celery",
                "-A",
                "dms",
                "worker",
                "-Q",
                ",".join(settings.DMS_CELERY_QUEUES),
                "-l",
                "info",
                "--concurrency",
                "2",
            ],
            "beat": [py, "-m", "celery", "-A", "dms", "beat", "-l", "info"],
        }
        running = {name: subprocess.Popen(cmd) for name, cmd in procs.items()}
        self.stdout.write(self.style.SUCCESS(f"\nDMS-lite is running at http://{addr}/"))
        self.stdout.write(
            f"Demo logins (password “{DEMO_PASSWORD}”): " + ", ".join(u for u, *_ in DEMO_STAFF)
        )
        self.stdout.write("Press Ctrl-C to stop the web server, the worker and beat.\n")

        def stop(*_args):
            for proc in running.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for proc in running.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
            sys.exit(0)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while True:
            for name, proc in running.items():
                if proc.poll() is not None:
                    self.stderr.write(
                        f"{name} stopped with exit code {proc.returncode}; stopping all."
                    )
                    stop()
            time.sleep(1)
