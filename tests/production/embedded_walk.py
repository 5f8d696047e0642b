"""Run by tests/production/test_embedded_default.py in a process of its own, on the embedded
default (SQLite, no Redis): every demo login opens its landing page and every page of its menu,
then every task beat schedules runs (eagerly, as a worker would). Prints one JSON report."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dms.settings.local")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from dms.celery import app  # noqa: E402
from dms.demo import DEMO_PASSWORD, DEMO_STAFF  # noqa: E402

assert connection.vendor == "sqlite", connection.vendor
assert settings.CELERY_BROKER_URL == "filesystem://", settings.CELERY_BROKER_URL
setup_test_environment()  # response.context for the menu
call_command("migrate", "--noinput", verbosity=0)
call_command("load_demo", verbosity=0)

report: dict = {"pages": {}, "failures": [], "tasks": {}}
for username, *_names in DEMO_STAFF:
    client = Client(raise_request_exception=False)
    if not client.login(username=username, password=DEMO_PASSWORD):
        report["failures"].append(f"{username}: cannot log in")
        continue
    landing = client.get("/", follow=True)
    landing_url = landing.redirect_chain[-1][0] if landing.redirect_chain else "/"
    pages = {landing_url: landing.status_code}
    menu = [item["url"] for item in (landing.context or {}).get("nav_items", [])]
    if not menu:
        report["failures"].append(f"{username}: no menu on {landing_url}")
    for url in menu:
        pages[url] = client.get(url).status_code
    report["pages"][username] = pages
    report["failures"] += [
        f"{username}: {url} answered {status}" for url, status in pages.items() if status != 200
    ]

# every task beat starts, as a worker runs it (dispatches they enqueue run inline too)
app.loader.import_default_modules()  # the tasks, as a worker registers them
app.conf.task_always_eager = True
app.conf.task_eager_propagates = False
for name, entry in app.conf.beat_schedule.items():
    result = app.tasks[entry["task"]].apply(
        args=entry.get("args", ()), kwargs=entry.get("kwargs", {})
    )
    report["tasks"][name] = result.state
    if result.state != "SUCCESS":
        report["failures"].append(f"beat task {name}: {result.state} {result.result!r}")

sys.stdout.write("REPORT " + json.dumps(report, ensure_ascii=False) + "\n")
