"""The Celery app. The database is the schedule: beat only runs the minute sweepers."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dms.settings.local")

app = Celery("dms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # claim due call tasks / messages (reminders, follow-ups, proactive care)
    "outreach-sweep": {"task": "followups.tasks.sweep_due_tasks", "schedule": 60.0},
    # messages to customers: lost hand-outs, ended waits, answers lost with a dead worker
    "messaging-sweep": {"task": "messaging.tasks.sweep", "schedule": 60.0},
    # appointments past their grace period become no-shows
    "appointments-no-show": {"task": "appointments.tasks.mark_no_shows", "schedule": 60.0},
    # nightly: segmentation and proactive-care reminder rules
    "customers-segmentation": {
        "task": "customers.tasks.recompute_segments",
        "schedule": crontab(hour=1, minute=30),
    },
    # KPI dashboard daily rollup: the last week every 5 minutes (follow-ups complete 2–5 days
    # after delivery), the last 35 days hourly (comebacks, cancellations)
    "kpi-rollups-recent": {
        "task": "dms.tasks.refresh_kpi_rollups",
        "schedule": 300.0,
        "kwargs": {"days": 7},
    },
    "kpi-rollups-trailing": {
        "task": "dms.tasks.refresh_kpi_rollups",
        "schedule": crontab(minute=7),
        "kwargs": {"days": 35},
    },
    # nightly: the last 400 days (repair orders open for weeks, cancelled or extended late)
    "kpi-rollups-nightly": {
        "task": "dms.tasks.refresh_kpi_rollups",
        "schedule": crontab(hour=3, minute=30),
        "kwargs": {"days": 400},
    },
    # one-time codes of the online booking, once the rate limits no longer look at them
    "portal-codes-purge": {"task": "portal.tasks.purge_codes", "schedule": crontab(minute=17)},
    # idempotency records past their window
    "idempotency-purge": {
        "task": "dms.tasks.purge_idempotency_records",
        "schedule": crontab(minute=23),
    },
    "care-reminder-rules": {
        "task": "care.tasks.run_reminder_rules",
        "schedule": crontab(hour=2, minute=0),
    },
}
